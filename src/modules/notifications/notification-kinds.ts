/**
 * The notification kinds, channels and default preferences of API.md section 14. A kind is the
 * event's type without `crm.` and the version (`deal.won`), plus `webhook.disabled` and
 * `password.reset`; the same names key the preferences and the templates.
 */

export const NOTIFICATION_KINDS = [
  'user.registered',
  'member.added',
  'lead.created',
  'deal.won',
  'deal.lost',
  'task.created',
  'webhook.disabled',
  'password.reset',
] as const;

export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** The channels, named as the preferences name them (`inApp`), also in template paths. */
export const NOTIFICATION_CHANNELS = ['email', 'inApp', 'sms'] as const;

export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

/** The channels that are sent (rows of notification_sends); in-app notifications are stored. */
export const SEND_CHANNELS = ['email', 'sms'] as const;

export type SendChannel = (typeof SEND_CHANNELS)[number];

export const isKind = (value: string): value is NotificationKind =>
  (NOTIFICATION_KINDS as readonly string[]).includes(value);

export const isChannel = (value: string): value is NotificationChannel =>
  (NOTIFICATION_CHANNELS as readonly string[]).includes(value);

/** Per channel, whether each kind is on. */
export type ChannelPreferences = Record<NotificationKind, boolean>;
export type NotificationPreferences = Record<NotificationChannel, ChannelPreferences>;

const channelDefaults = (on: readonly NotificationKind[]): ChannelPreferences =>
  Object.fromEntries(NOTIFICATION_KINDS.map((kind) => [kind, on.includes(kind)])) as Record<
    NotificationKind,
    boolean
  >;

/** The default channels of API.md section 14's table (SMS is off until a user turns it on). */
export const DEFAULT_PREFERENCES: Readonly<NotificationPreferences> = {
  email: channelDefaults([
    'user.registered',
    'member.added',
    'lead.created',
    'deal.won',
    'deal.lost',
    'webhook.disabled',
    'password.reset',
  ]),
  inApp: channelDefaults([
    'member.added',
    'lead.created',
    'deal.won',
    'deal.lost',
    'task.created',
    'webhook.disabled',
  ]),
  sms: channelDefaults([]),
};

/** A user's stored choices (possibly for fewer kinds than exist today) over the defaults. */
export function effectivePreferences(
  stored: Partial<Record<NotificationChannel, Partial<Record<string, boolean>>>> | null,
): NotificationPreferences {
  const result = {} as NotificationPreferences;
  for (const channel of NOTIFICATION_CHANNELS) {
    const given = stored?.[channel] ?? {};
    result[channel] = Object.fromEntries(
      NOTIFICATION_KINDS.map((kind) => [
        kind,
        typeof given[kind] === 'boolean' ? given[kind] : DEFAULT_PREFERENCES[channel][kind],
      ]),
    ) as ChannelPreferences;
  }
  return result;
}

/** The domain events that notify someone, and their kind. */
export const NOTIFYING_EVENTS = {
  'crm.user.registered.v1': 'user.registered',
  'crm.member.added.v1': 'member.added',
  'crm.lead.created.v1': 'lead.created',
  'crm.deal.won.v1': 'deal.won',
  'crm.deal.lost.v1': 'deal.lost',
  'crm.task.created.v1': 'task.created',
} as const satisfies Record<string, NotificationKind>;

/** Variables every template may use. */
export const COMMON_VARIABLES = ['recipientName', 'organizationName', 'appUrl'] as const;

/**
 * The variables each kind's templates may use besides COMMON_VARIABLES (documented in the
 * OpenAPI description of the template endpoints). A variable without a value renders empty;
 * a name not listed here makes a template invalid (400).
 */
export const KIND_VARIABLES: Readonly<Record<NotificationKind, readonly string[]>> = {
  'user.registered': ['userName', 'userEmail'],
  'member.added': ['memberName', 'memberEmail', 'role', 'addedByName'],
  'lead.created': ['leadName', 'leadEmail', 'leadCompanyName', 'leadSource', 'createdByName'],
  'deal.won': ['dealTitle', 'dealAmount', 'dealCurrency', 'dealOwnerName', 'closedByName'],
  'deal.lost': [
    'dealTitle',
    'dealAmount',
    'dealCurrency',
    'dealOwnerName',
    'closedByName',
    'lostReason',
    'surveyUrl',
  ],
  'task.created': ['taskTitle', 'taskDueDate', 'dealTitle', 'createdByName'],
  'webhook.disabled': ['webhookUrl', 'webhookId', 'reason'],
  'password.reset': ['resetUrl', 'expiresInMinutes'],
};

/** Every variable a template of `kind` may use. */
export const variablesOf = (kind: NotificationKind): readonly string[] => [
  ...COMMON_VARIABLES,
  ...KIND_VARIABLES[kind],
];

/** The values a template is rendered with: every variable of its kind, null when unknown. */
export type TemplateValues = Record<string, string | null>;
