import Handlebars from 'handlebars';
import type { ErrorDetail } from '../../common/errors/app.exception';
import type { TemplateValues } from './notification-kinds';

/**
 * Notification templates (API.md section 14) on Handlebars, restricted to what a template
 * written by an organization's admin may do safely: `{{variable}}` from the kind's documented
 * list, `{{#if variable}}...{{else}}...{{/if}}`, `{{#unless variable}}` and comments. No
 * partials, no other helpers, no paths (`a.b`, `../`, `@data`), and no unescaped output
 * (`{{{x}}}`, `{{& x}}`): values come from CRM records that any member can write, so they must
 * never reach an HTML body as markup. Rendering is strict (a missing value is a bug, not an empty
 * string) and escapes HTML in HTML bodies only; subjects, in-app texts and SMS are plain text.
 */

/** An environment of our own: nothing registered elsewhere (helpers, partials) is reachable. */
const engine = Handlebars.create();

const BLOCK_HELPERS = new Set(['if', 'unless']);

/** The constructs refused besides the ones checked by name, as a message names them. */
const FORBIDDEN: Record<string, string> = {
  PartialStatement: 'partials',
  PartialBlockStatement: 'partial blocks',
  Decorator: 'decorators',
  DecoratorBlock: 'decorators',
};

/** Compiled templates by kind of output and source (a template is compiled once per process). */
const compiled = new Map<string, HandlebarsTemplateDelegate<TemplateValues>>();
const COMPILED_MAX = 500;

/** What is wrong with a template's source (empty when it is valid), as validation details. */
export function templateProblems(
  field: string,
  source: string,
  variables: readonly string[],
): ErrorDetail[] {
  let program: hbs.AST.Program;
  try {
    program = engine.parse(source);
  } catch (error) {
    const first = String((error as Error).message).split('\n')[0];
    return [{ field, message: `${field} is not a valid template: ${first}` }];
  }
  const known = new Set(variables);
  const problems = new Set<string>();
  const variable = (node: hbs.AST.Node, where: string): void => {
    if (node.type !== 'PathExpression') {
      problems.add(`${where} must name a variable`);
      return;
    }
    const path = node as hbs.AST.PathExpression;
    if (path.data || path.depth > 0 || path.parts.length !== 1 || !known.has(path.parts[0])) {
      problems.add(`unknown variable ${path.original}`);
    }
  };
  const walk = (nodes: hbs.AST.Statement[]): void => {
    for (const node of nodes) {
      switch (node.type) {
        case 'ContentStatement':
        case 'CommentStatement':
          break;
        case 'MustacheStatement': {
          const mustache = node as hbs.AST.MustacheStatement;
          if (!mustache.escaped)
            problems.add('unescaped output ({{{...}}} or {{&...}}) is not allowed');
          if (mustache.params.length || mustache.hash?.pairs.length) {
            problems.add(`helpers are not allowed ({{${pathText(mustache.path)} ...}})`);
          } else {
            variable(mustache.path, '{{...}}');
          }
          break;
        }
        case 'BlockStatement': {
          const block = node as hbs.AST.BlockStatement;
          const name = pathText(block.path);
          if (!BLOCK_HELPERS.has(name) || block.params.length !== 1 || block.hash?.pairs.length) {
            problems.add(
              `only {{#if variable}} and {{#unless variable}} blocks are allowed (not {{#${name}}})`,
            );
          } else {
            variable(block.params[0], `{{#${name}}}`);
          }
          walk(block.program?.body ?? []);
          walk(block.inverse?.body ?? []);
          break;
        }
        default:
          problems.add(`${FORBIDDEN[node.type] ?? node.type} are not allowed`);
      }
    }
  };
  walk(program.body);
  return [...problems].map((message) => ({ field, message: `${field}: ${message}` }));
}

function pathText(node: hbs.AST.Node): string {
  return node.type === 'PathExpression' ? (node as hbs.AST.PathExpression).original : node.type;
}

/**
 * Renders a template that passed `templateProblems` with `values` (every variable of its kind;
 * null renders empty). `html`: values are HTML-escaped (an email's body); otherwise the output is
 * plain text and nothing is escaped.
 */
export function renderTemplate(source: string, values: TemplateValues, html: boolean): string {
  const key = `${html ? 'h' : 't'}:${source}`;
  let template = compiled.get(key);
  if (!template) {
    template = engine.compile<TemplateValues>(source, {
      strict: true,
      noEscape: !html,
      data: false,
      knownHelpers: { if: true, unless: true },
      knownHelpersOnly: true,
    });
    if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, template);
  }
  return template(values);
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
    if (name[0] === '#') {
      const code =
        name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return ENTITIES[name.toLowerCase()] ?? entity;
  });
}

const stripTags = (html: string): string => html.replace(/<[^>]*>/g, '');

/**
 * The plain-text alternative of a rendered HTML email body: links as "label (url)", paragraphs
 * and line breaks kept, tags dropped, entities decoded. Values were HTML-escaped in the HTML,
 * so a name like `<b>Ann & Co</b>` comes back as that text, not as markup.
 */
export function htmlToText(html: string): string {
  let text = html
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/\s+/g, ' ');
  text = text.replace(
    /<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/a\s*>/gi,
    (_match, double: string | undefined, single: string | undefined, label: string) => {
      const href = (double ?? single ?? '').trim();
      const shown = stripTags(label).trim();
      if (!shown || decodeEntities(shown) === decodeEntities(href)) return href;
      return href ? `${shown} (${href})` : shown;
    },
  );
  text = text
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<li\b[^>]*>/gi, '\n- ')
    .replace(/<\/(p|div|h[1-6]|ul|ol|table|tr|blockquote)\s*>/gi, '\n\n')
    .replace(/<(p|div|h[1-6]|ul|ol|table|tr|blockquote)\b[^>]*>/gi, '\n\n');
  return decodeEntities(stripTags(text))
    .split('\n')
    .map((line) => line.replace(/[ \t\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
