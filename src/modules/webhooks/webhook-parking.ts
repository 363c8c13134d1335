import type { SystemTx } from '../../tenancy/unit-of-work';
import { WebhookDelivery } from './webhook-delivery.entity';

/**
 * The pending deliveries of a disabled endpoint have no due time (the dispatcher's index of due
 * deliveries stays free of them); enabled again, they are due at once, in their order.
 */
export async function parkDeliveries(
  tx: SystemTx,
  webhookId: string,
  park: boolean,
): Promise<void> {
  await tx
    .repo(WebhookDelivery)
    .query(
      park
        ? `UPDATE webhook_deliveries SET next_attempt_at = NULL WHERE webhook_id = $1 AND status = 'pending'`
        : `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at IS NULL`,
      [webhookId],
    );
}
