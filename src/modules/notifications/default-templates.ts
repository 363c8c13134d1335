import type { NotificationChannel, NotificationKind } from './notification-kinds';

/**
 * A template: `subject` is the email's subject or the in-app notification's title (null for
 * SMS, which has a body only); `body` is HTML for email, plain text for in-app and SMS.
 */
export interface TemplateText {
  subject: string | null;
  body: string;
}

type KindTemplates = Record<NotificationChannel, TemplateText>;

const footer =
  '<p style="color:#666;font-size:12px">{{organizationName}} · <a href="{{appUrl}}">{{appUrl}}</a><br>' +
  'You get this email because of your notification preferences.</p>';

/**
 * The templates shipped with the app (API.md section 14): one per kind and channel. An
 * organization may override each (notification_templates); DELETE restores these. Variables per
 * kind: notification-kinds.ts (KIND_VARIABLES).
 */
export const DEFAULT_TEMPLATES: Readonly<Record<NotificationKind, KindTemplates>> = {
  'user.registered': {
    email: {
      subject: 'Welcome to the CRM, {{userName}}',
      body:
        '<p>Hello {{userName}},</p>' +
        '<p>Welcome! Your account ({{userEmail}}) and your organization ' +
        '<strong>{{organizationName}}</strong> are ready.</p>' +
        footer,
    },
    inApp: {
      subject: 'Welcome, {{userName}}',
      body: 'Your organization {{organizationName}} is ready.',
    },
    sms: { subject: null, body: 'Welcome to the CRM, {{userName}}!' },
  },
  'member.added': {
    email: {
      subject: 'You were added to {{organizationName}}',
      body:
        '<p>Hello {{memberName}},</p>' +
        '<p>{{#if addedByName}}{{addedByName}} added you{{else}}You were added{{/if}} to ' +
        '<strong>{{organizationName}}</strong> as {{role}}.</p>' +
        footer,
    },
    inApp: {
      subject: 'Added to {{organizationName}}',
      body: 'You are now {{role}} in {{organizationName}}.',
    },
    sms: { subject: null, body: 'You were added to {{organizationName}} as {{role}}.' },
  },
  'lead.created': {
    email: {
      subject: 'New lead for you: {{leadName}}',
      body:
        '<p>Hello {{recipientName}},</p>' +
        '<p>{{#if createdByName}}{{createdByName}} created{{else}}There is{{/if}} a new lead ' +
        'that you own: <strong>{{leadName}}</strong>' +
        '{{#if leadCompanyName}} ({{leadCompanyName}}){{/if}}.</p>' +
        '{{#if leadEmail}}<p>Email: {{leadEmail}}</p>{{/if}}' +
        '{{#if leadSource}}<p>Source: {{leadSource}}</p>{{/if}}' +
        footer,
    },
    inApp: {
      subject: 'New lead: {{leadName}}',
      body: '{{#if createdByName}}{{createdByName}} assigned you{{else}}You own{{/if}} the lead {{leadName}}.',
    },
    sms: { subject: null, body: 'New lead for you: {{leadName}}' },
  },
  'deal.won': {
    email: {
      subject: 'Deal won: {{dealTitle}} ({{dealAmount}} {{dealCurrency}})',
      body:
        '<p>Hello {{recipientName}},</p>' +
        '<p>The deal <strong>{{dealTitle}}</strong> of {{dealOwnerName}} was won: ' +
        '{{dealAmount}} {{dealCurrency}}.</p>' +
        '{{#if closedByName}}<p>Closed by {{closedByName}}.</p>{{/if}}' +
        footer,
    },
    inApp: {
      subject: 'Deal won: {{dealTitle}}',
      body: '{{dealTitle}} was won ({{dealAmount}} {{dealCurrency}}).',
    },
    sms: { subject: null, body: 'Deal won: {{dealTitle}} ({{dealAmount}} {{dealCurrency}})' },
  },
  'deal.lost': {
    email: {
      subject: 'Deal lost: {{dealTitle}}',
      body:
        '<p>Hello {{recipientName}},</p>' +
        '<p>The deal <strong>{{dealTitle}}</strong> ({{dealAmount}} {{dealCurrency}}) was lost' +
        '{{#if lostReason}}: {{lostReason}}{{/if}}.</p>' +
        '<p>What could we have done better? Please take two minutes for the follow-up survey: ' +
        '<a href="{{surveyUrl}}">{{surveyUrl}}</a></p>' +
        footer,
    },
    inApp: {
      subject: 'Deal lost: {{dealTitle}}',
      body: '{{dealTitle}} was lost{{#if lostReason}}: {{lostReason}}{{/if}}.',
    },
    sms: { subject: null, body: 'Deal lost: {{dealTitle}}. Survey: {{surveyUrl}}' },
  },
  'task.created': {
    email: {
      subject: 'New task on {{dealTitle}}: {{taskTitle}}',
      body:
        '<p>Hello {{recipientName}},</p>' +
        '<p>{{#if createdByName}}{{createdByName}} added{{else}}There is{{/if}} a task on your ' +
        'deal <strong>{{dealTitle}}</strong>: {{taskTitle}}, due {{taskDueDate}}.</p>' +
        footer,
    },
    inApp: {
      subject: 'New task: {{taskTitle}}',
      body: '{{taskTitle}} on {{dealTitle}}, due {{taskDueDate}}.',
    },
    sms: { subject: null, body: 'New task on {{dealTitle}}: {{taskTitle}} (due {{taskDueDate}})' },
  },
  'webhook.disabled': {
    email: {
      subject: 'Webhook disabled: {{webhookUrl}}',
      body:
        '<p>Hello {{recipientName}},</p>' +
        '<p>The webhook endpoint <strong>{{webhookUrl}}</strong> of {{organizationName}} was ' +
        'disabled: {{reason}}.</p>' +
        '<p>Fix the endpoint, then enable it again (PATCH /api/v1/webhooks/{{webhookId}} ' +
        'with enabled: true).</p>' +
        footer,
    },
    inApp: {
      subject: 'Webhook disabled',
      body: '{{webhookUrl}} was disabled: {{reason}}.',
    },
    sms: { subject: null, body: 'Webhook disabled: {{webhookUrl}} ({{reason}})' },
  },
  'password.reset': {
    email: {
      subject: 'Reset your password',
      body:
        '<p>Hello {{recipientName}},</p>' +
        '<p>To choose a new password, open <a href="{{resetUrl}}">{{resetUrl}}</a>. The link ' +
        'works once, for {{expiresInMinutes}} minutes.</p>' +
        '<p>If you did not ask for this, ignore this email: your password stays as it is.</p>',
    },
    inApp: {
      subject: 'Password reset requested',
      body: 'A password reset was requested for your account.',
    },
    sms: { subject: null, body: 'A password reset was requested for your CRM account.' },
  },
};
