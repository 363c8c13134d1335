import { DEFAULT_TEMPLATES } from './default-templates';
import {
  DEFAULT_PREFERENCES,
  effectivePreferences,
  NOTIFICATION_CHANNELS,
  NOTIFICATION_KINDS,
  variablesOf,
} from './notification-kinds';
import { mailDomain } from './sending/email.transport';
import { smsNumber } from './sending/sms.transport';
import { htmlToText, renderTemplate, templateProblems } from './template-engine';

const messages = (source: string, variables = ['name', 'title']): string[] =>
  templateProblems('body', source, variables).map((p) => p.message);

describe('notification templates', () => {
  it.each(
    NOTIFICATION_KINDS.flatMap((kind) => NOTIFICATION_CHANNELS.map((c) => [kind, c] as const)),
  )(
    'the shipped %s/%s template is valid and renders with every variable empty',
    (kind, channel) => {
      const { subject, body } = DEFAULT_TEMPLATES[kind][channel];
      const variables = variablesOf(kind);
      expect(templateProblems('body', body, variables)).toEqual([]);
      if (subject !== null) expect(templateProblems('subject', subject, variables)).toEqual([]);
      expect(subject === null).toBe(channel === 'sms');
      const empty = Object.fromEntries(variables.map((v) => [v, null]));
      expect(() => renderTemplate(body, empty, channel === 'email')).not.toThrow();
    },
  );

  it('accepts the documented variables, if/unless blocks and comments', () => {
    expect(
      messages(
        'Hi {{name}}{{#if title}}, {{title}}{{else}}!{{/if}}{{#unless name}}?{{/unless}}{{! note }}',
      ),
    ).toEqual([]);
  });

  it('refuses unknown variables, paths, helpers, partials, unescaped output and broken syntax', () => {
    expect(messages('{{nmae}}')).toEqual(['body: unknown variable nmae']);
    expect(messages('{{name.first}} {{../name}} {{@root.name}} {{this}}')).toEqual([
      'body: unknown variable name.first',
      'body: unknown variable ../name',
      'body: unknown variable @root.name',
      'body: unknown variable this',
    ]);
    expect(messages('{{{name}}}')).toEqual([
      'body: unescaped output ({{{...}}} or {{&...}}) is not allowed',
    ]);
    expect(messages('{{& name}}')[0]).toContain('unescaped output');
    expect(messages('{{lookup name "x"}}')[0]).toContain('helpers are not allowed');
    expect(messages('{{name x=1}}')[0]).toContain('helpers are not allowed');
    expect(messages('{{#each name}}x{{/each}}')[0]).toContain('only {{#if variable}}');
    expect(messages('{{#if name title}}x{{/if}}')[0]).toContain('only {{#if variable}}');
    expect(messages('{{#if nope}}x{{/if}}')).toEqual(['body: unknown variable nope']);
    expect(messages('{{#if name}}{{nope}}{{else}}{{other}}{{/if}}')).toEqual([
      'body: unknown variable nope',
      'body: unknown variable other',
    ]);
    expect(messages('{{> partial}}')).toEqual(['body: partials are not allowed']);
    expect(messages('{{#> layout}}x{{/layout}}')).toEqual(['body: partial blocks are not allowed']);
    expect(messages('{{#if name}}open')[0]).toMatch(/^body is not a valid template: Parse error/);
    expect(messages('{{name')[0]).toMatch(/^body is not a valid template/);
  });

  it('escapes values in HTML only, renders null as empty, and is strict about missing values', () => {
    const values = { name: '<b>Ann & Co</b>', title: null };
    expect(renderTemplate('<p>{{name}}|{{title}}</p>', values, true)).toBe(
      '<p>&lt;b&gt;Ann &amp; Co&lt;/b&gt;|</p>',
    );
    expect(renderTemplate('{{name}}|{{title}}', values, false)).toBe('<b>Ann & Co</b>|');
    expect(() => renderTemplate('{{missing}}', values, false)).toThrow(/missing/);
  });

  it('makes the plain-text alternative of an HTML body', () => {
    const html =
      '<p>Hello &lt;b&gt;Ann &amp; Co&lt;/b&gt;,</p>\n<p>Line one<br>line   two</p>' +
      '<ul><li>first</li><li>second</li></ul><style>p{}</style><!-- hidden -->' +
      '<p><a href="https://x.example/?a&#x3D;1&amp;b&#x3D;2">the survey</a> or ' +
      '<a href="https://y.example/">https://y.example/</a> &#169; &nbsp;&unknown;</p>';
    expect(htmlToText(html)).toBe(
      [
        'Hello <b>Ann & Co</b>,',
        '',
        'Line one',
        'line two',
        '',
        '- first',
        '- second',
        '',
        'the survey (https://x.example/?a=1&b=2) or https://y.example/ © &unknown;',
      ].join('\n'),
    );
  });
});

describe('notification preferences', () => {
  it('are the defaults of API.md section 14 without stored choices', () => {
    expect(effectivePreferences(null)).toEqual(DEFAULT_PREFERENCES);
    expect(DEFAULT_PREFERENCES.email['task.created']).toBe(false);
    expect(DEFAULT_PREFERENCES.inApp['user.registered']).toBe(false);
    expect(Object.values(DEFAULT_PREFERENCES.sms).every((on) => !on)).toBe(true);
  });

  it('keep stored booleans and take the default for kinds not stored (or not booleans)', () => {
    const prefs = effectivePreferences({
      email: { 'deal.won': false, 'deal.lost': 'no' as unknown as boolean },
      sms: { 'task.created': true },
    });
    expect(prefs.email['deal.won']).toBe(false);
    expect(prefs.email['deal.lost']).toBe(true);
    expect(prefs.sms['task.created']).toBe(true);
    expect(prefs.inApp).toEqual(DEFAULT_PREFERENCES.inApp);
  });
});

describe('channel helpers', () => {
  it('numbers for SMS keep the leading + and the digits only', () => {
    expect(smsNumber(' +1 (555) 010-2030 ')).toBe('+15550102030');
    expect(smsNumber('020 7946.0000')).toBe('02079460000');
  });

  it('takes the Message-ID domain from MAIL_FROM', () => {
    expect(mailDomain('CRM <no-reply@crm.example>')).toBe('crm.example');
    expect(mailDomain('alerts@mail.example.org')).toBe('mail.example.org');
    expect(mailDomain('nobody')).toBe('crm.localhost');
  });
});
