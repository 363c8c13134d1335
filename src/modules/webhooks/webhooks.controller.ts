import { Body, Controller, HttpCode, HttpStatus, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { Can } from '../../tenancy/access/access.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import {
  TenantCreate,
  TenantDelete,
  TenantGet,
  TenantList,
  TenantPatch,
} from '../../tenancy/access/tenant-routes.decorator';
import type { Actor } from '../../tenancy/actor';
import {
  CreatedWebhookDto,
  CreateWebhookDto,
  DeliveryDetailDto,
  DeliveryDto,
  DeliveryListQueryDto,
  UpdateWebhookDto,
  WebhookDto,
  WebhookSecretDto,
} from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';

const DELIVERY_DOC =
  'Deliveries are POSTs of the event envelope (API.md section 12), signed per the Standard Webhooks specification: `webhook-id` (the event id), `webhook-timestamp` (unix seconds), `webhook-signature` (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" with the secret\'s bytes>`, space-separated while a rotated secret still signs). A 2xx answer within 10 s is a success; otherwise the delivery is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (WEBHOOK_RETRY_SCHEDULE), then `failed`. An endpoint is disabled after 50 deliveries in a row failed (WEBHOOK_DISABLE_AFTER) or 5 days of failures, and the owners are notified. Deliveries of one endpoint are first attempted in event order, one at a time; a retry does not hold back later events. Receivers should deduplicate by `webhook-id` (at least once).';

@ApiTags('webhooks')
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @TenantList('', {
    permission: 'webhooks:read',
    summary: "The organization's webhook endpoints (owner, admin)",
    description:
      'Every endpoint with its subscribed events and whether it is enabled (an endpoint whose ' +
      'deliveries kept failing is disabled automatically, with `disabledReason`). Secrets are ' +
      'never listed: they are shown only when created or rotated.',
    type: WebhookDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: ListQueryDto,
  ): Promise<ListResult<WebhookDto>> {
    return this.webhooks.list(actor, query);
  }

  @TenantCreate('', {
    permission: 'webhooks:create',
    summary:
      'Create a webhook endpoint; the answer holds its secret, shown only here (owner, admin)',
    description: DELIVERY_DOC,
    type: CreatedWebhookDto,
  })
  @ApiError(409, [ErrorCode.WEBHOOK_LIMIT_REACHED])
  @ApiError(422, [ErrorCode.WEBHOOK_URL_NOT_ALLOWED])
  create(@CurrentActor() actor: Actor, @Body() body: CreateWebhookDto): Promise<CreatedWebhookDto> {
    return this.webhooks.create(actor, body);
  }

  @TenantGet(':id', {
    permission: 'webhooks:read',
    summary: 'Get a webhook endpoint (owner, admin)',
    description:
      "One endpoint of the organization, without its secret; 404 for another organization's.",
    type: WebhookDto,
  })
  get(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<WebhookDto> {
    return this.webhooks.get(actor, id);
  }

  @TenantPatch(':id', {
    permission: 'webhooks:update',
    summary: 'Change the URL, events, description, or enable/disable (owner, admin)',
    description:
      'Only the properties given change. A new URL is checked like at creation (https, no private ' +
      'or loopback address: 422 WEBHOOK_URL_NOT_ALLOWED); `enabled: true` re-enables an endpoint ' +
      'that was disabled after failures. The secret is unchanged (POST .../rotate-secret).',
    type: WebhookDto,
  })
  @ApiError(422, [ErrorCode.WEBHOOK_URL_NOT_ALLOWED])
  update(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: UpdateWebhookDto,
  ): Promise<WebhookDto> {
    return this.webhooks.update(actor, id, body);
  }

  @TenantDelete(':id', {
    permission: 'webhooks:delete',
    summary: 'Delete a webhook endpoint and its delivery log (owner, admin)',
    description:
      'Deliveries still pending are dropped with the endpoint: nothing more is sent to its URL.',
  })
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.webhooks.remove(actor, id);
  }

  @Post(':id/rotate-secret')
  @Idempotent()
  @HttpCode(HttpStatus.OK)
  @Can('webhooks:update')
  @ApiOperation({
    summary: 'A new signing secret; the previous one keeps signing for 24 h (owner, admin)',
    description:
      'The answer holds the new secret, shown only here. For 24 hours deliveries carry two ' +
      'signatures (`webhook-signature` lists both, space-separated), so the receiver can switch ' +
      'secrets without missing a delivery.',
  })
  @ApiOkResponse({ type: WebhookSecretDto })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  rotateSecret(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
  ): Promise<WebhookSecretDto> {
    return this.webhooks.rotateSecret(actor, id);
  }

  @TenantList(':id/deliveries', {
    permission: 'webhooks:read',
    summary: "An endpoint's deliveries, newest first (owner, admin)",
    description:
      'One delivery per event sent to the endpoint, with its status (pending, succeeded, failed), ' +
      'attempts, last HTTP status or error and next attempt; filter by `status` and by ' +
      '`eventType` (the full type, e.g. crm.deal.won.v1). Kept 30 days.',
    type: DeliveryDto,
  })
  deliveries(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Query() query: DeliveryListQueryDto,
  ): Promise<ListResult<DeliveryDto>> {
    return this.webhooks.deliveries(actor, id, query);
  }

  @TenantGet(':id/deliveries/:deliveryId', {
    permission: 'webhooks:read',
    summary: 'A delivery with every attempt (owner, admin)',
    description:
      'The delivery with `attemptLog`: the time, HTTP status, duration, error and the first 2 KB ' +
      'of the answer of each attempt, to see why a receiver refused it.',
    type: DeliveryDetailDto,
  })
  delivery(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @UuidParam('deliveryId') deliveryId: string,
  ): Promise<DeliveryDetailDto> {
    return this.webhooks.delivery(actor, id, deliveryId);
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @Idempotent()
  @HttpCode(HttpStatus.ACCEPTED)
  @Can('webhooks:update')
  @ApiOperation({
    summary: 'Attempt a delivery again now, with the same event id (owner, admin)',
    description:
      'One more attempt for a delivery that succeeded or failed; a pending one is attempted now and keeps the rest of its schedule.',
  })
  @ApiAcceptedResponse({ type: DeliveryDto })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  redeliver(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @UuidParam('deliveryId') deliveryId: string,
  ): Promise<DeliveryDto> {
    return this.webhooks.redeliver(actor, id, deliveryId);
  }

  @Post(':id/ping')
  @Idempotent()
  @HttpCode(HttpStatus.ACCEPTED)
  @Can('webhooks:update')
  @ApiOperation({
    summary: 'Send a crm.webhook.ping.v1 event to this endpoint only (owner, admin)',
    description:
      'Delivered like any event (signed, retried, logged) while the endpoint is enabled.',
  })
  @ApiAcceptedResponse({ type: DeliveryDto })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  ping(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<DeliveryDto> {
    return this.webhooks.ping(actor, id);
  }
}
