/**
 * Whether a SQL statement is one of the app's background workers' (the in-app event consumers,
 * the webhook dispatcher, the notification senders), not a request's: tests that count a
 * request's statements leave them out (a poll may land during the request).
 */
export const isBackgroundStatement = (sql: string): boolean =>
  /consumer_messages|webhook_deliveries|notification_sends/.test(sql);
