import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiValidationError } from '../../common/decorators/api-error.decorator';
import type { AuthUser } from '../../common/http/request-context';
import { Authenticated } from '../../tenancy/access/access.decorator';
import { CurrentUser } from '../../tenancy/access/context.decorators';
import {
  NotificationPreferencesDto,
  NotificationPreferencesInputDto,
} from './dto/notification-preferences.dto';
import { NOTIFICATION_KINDS } from './notification-kinds';
import { NotificationsService } from './notifications.service';

const SHAPE =
  "No X-Organization-Id header: the preferences are the user's, in every organization. Per channel " +
  `(email, inApp, sms), kind -> on/off; kinds: ${NOTIFICATION_KINDS.join(', ')}. Defaults: email for every kind but ` +
  'task.created; inApp for member.added, lead.created, deal.won, deal.lost, task.created, webhook.disabled; sms ' +
  'off (text messages need a phone: PATCH /users/me).';

@ApiTags('notifications')
@Controller('users/me/notification-preferences')
export class NotificationPreferencesController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  @Authenticated()
  @ApiOperation({ summary: 'My notification preferences', description: SHAPE })
  @ApiOkResponse({ type: NotificationPreferencesDto })
  get(@CurrentUser() user: AuthUser): Promise<NotificationPreferencesDto> {
    return this.notifications.preferences(user.id);
  }

  @Put()
  @Authenticated()
  @ApiOperation({
    summary: 'Replace my notification preferences',
    description:
      `${SHAPE} Kinds left out take their default; the answer is the stored preferences, every kind. ` +
      'An unknown kind, or email.password.reset false (a password reset is always emailed), is 400 VALIDATION_FAILED.',
  })
  @ApiOkResponse({ type: NotificationPreferencesDto })
  @ApiValidationError()
  put(
    @CurrentUser() user: AuthUser,
    @Body() body: NotificationPreferencesInputDto,
  ): Promise<NotificationPreferencesDto> {
    return this.notifications.setPreferences(user.id, body);
  }
}
