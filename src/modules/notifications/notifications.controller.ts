import { Body, Controller, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiValidationError } from '../../common/decorators/api-error.decorator';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { Can } from '../../tenancy/access/access.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import {
  TenantAction,
  TenantDelete,
  TenantList,
  TenantPut,
} from '../../tenancy/access/tenant-routes.decorator';
import type { Actor } from '../../tenancy/actor';
import { NotificationDto, NotificationListQueryDto } from './dto/notification.dto';
import {
  NotificationTemplateDto,
  NotificationTemplateInputDto,
  NotificationTemplateListQueryDto,
} from './dto/notification-template.dto';
import {
  COMMON_VARIABLES,
  KIND_VARIABLES,
  NOTIFICATION_CHANNELS,
  NOTIFICATION_KINDS,
} from './notification-kinds';
import { NotificationsService } from './notifications.service';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';

@ApiTags('notifications')
@Controller('notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @TenantList('', {
    summary: "The caller's in-app notifications in the organization",
    description:
      "Newest first by default. Only the caller's own notifications, in the organization of X-Organization-Id. unread=true: only those not read yet.",
    type: NotificationDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: NotificationListQueryDto,
  ): Promise<ListResult<NotificationDto>> {
    return this.notifications.list(actor, query);
  }

  @Post('read-all')
  @Idempotent()
  @Can()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: "Mark all the caller's notifications in the organization read",
    description:
      'Only the in-app notifications of the caller in the organization named by X-Organization-Id; ' +
      'those already read keep their readAt. Any member.',
  })
  @ApiNoContentResponse({ description: 'Marked read' })
  readAll(@CurrentActor() actor: Actor): Promise<void> {
    return this.notifications.markAllRead(actor);
  }

  @TenantAction(':id/read', {
    summary: 'Mark one of my notifications read',
    description:
      "Answers the notification. Reading it again keeps the first readAt. Another user's notification, or one of another organization, is 404.",
    type: NotificationDto,
  })
  @ApiValidationError()
  read(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<NotificationDto> {
    return this.notifications.markRead(actor, id);
  }
}

const VARIABLES = [
  `Every template may use ${COMMON_VARIABLES.map((v) => `{{${v}}}`).join(', ')}. Per kind:`,
  ...NOTIFICATION_KINDS.map(
    (kind) => `- ${kind}: ${KIND_VARIABLES[kind].map((v) => `{{${v}}}`).join(', ')}`,
  ),
].join('\n');

const TEMPLATE_RULES =
  'Templates are Handlebars with the variables of their kind: {{variable}}, {{#if variable}}...{{else}}...{{/if}} ' +
  'and {{#unless variable}}...{{/unless}}; nothing else (no other helpers, partials, paths or {{{unescaped}}} output). ' +
  'A variable without a value renders empty. In email bodies (HTML) values are HTML-escaped; subjects, in-app ' +
  "titles and bodies and SMS are plain text. The email's plain-text alternative is made from its HTML.\n\n" +
  VARIABLES;

const KIND_PARAM = ApiParam({ name: 'kind', enum: NOTIFICATION_KINDS });
const CHANNEL_PARAM = ApiParam({ name: 'channel', enum: NOTIFICATION_CHANNELS });

@ApiTags('notifications')
@Controller('notification-templates')
export class NotificationTemplatesController {
  constructor(private readonly notifications: NotificationsService) {}

  @TenantList('', {
    summary: 'The notification templates that apply to the organization (owner, admin)',
    description:
      "One per kind and channel: the organization's override, or the shipped default (isDefault true).\n\n" +
      TEMPLATE_RULES,
    type: NotificationTemplateDto,
    permission: 'templates:read',
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: NotificationTemplateListQueryDto,
  ): Promise<ListResult<NotificationTemplateDto>> {
    return this.notifications.listTemplates(actor, query);
  }

  @TenantPut(':kind/:channel', {
    summary: 'Override a notification template for the organization (owner, admin)',
    description:
      'subject is required for email (the subject) and inApp (the title), absent or null for sms. ' +
      'An unknown kind or channel is 404; an unknown variable or a template that does not compile is 400 VALIDATION_FAILED.\n\n' +
      TEMPLATE_RULES,
    type: NotificationTemplateDto,
    permission: 'templates:update',
  })
  @KIND_PARAM
  @CHANNEL_PARAM
  @ApiValidationError()
  put(
    @CurrentActor() actor: Actor,
    @Param('kind') kind: string,
    @Param('channel') channel: string,
    @Body() body: NotificationTemplateInputDto,
  ): Promise<NotificationTemplateDto> {
    return this.notifications.putTemplate(actor, kind, channel, body);
  }

  @TenantDelete(':kind/:channel', {
    summary: 'Restore the shipped default of a notification template (owner, admin)',
    description:
      "Removes the organization's override (204 also when it had none). An unknown kind or channel is 404.",
    permission: 'templates:delete',
  })
  @KIND_PARAM
  @CHANNEL_PARAM
  remove(
    @CurrentActor() actor: Actor,
    @Param('kind') kind: string,
    @Param('channel') channel: string,
  ): Promise<void> {
    return this.notifications.deleteTemplate(actor, kind, channel);
  }
}
