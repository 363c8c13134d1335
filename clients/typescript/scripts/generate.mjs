#!/usr/bin/env node
// Generates src/schema.ts (the API's types) from the repository's openapi.json with
// openapi-typescript, formatted with the repository's Prettier settings so that a change of the
// document shows as a readable diff. `npm run client:generate` writes it; with `--check` it
// writes nothing and exits 1 when the committed file differs from what the document gives (the
// drift check of the tests uses this).
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import * as prettier from 'prettier';

const DOCUMENT = new URL('../../../openapi.json', import.meta.url);
const SCHEMA = fileURLToPath(new URL('../src/schema.ts', import.meta.url));

/** The generated module's text for the document at `document`. */
async function generate(document) {
  // openapi-typescript's defaults (a minimal Redocly ruleset, no redocly.yaml lookup), silent.
  const ast = await openapiTS(document, { silent: true });
  const text = `${COMMENT_HEADER}${astToString(ast)}`;
  const options = await prettier.resolveConfig(SCHEMA);
  return prettier.format(text, { ...options, filepath: SCHEMA });
}

const check = process.argv.includes('--check');
const generated = await generate(JSON.parse(await readFile(DOCUMENT, 'utf8')));
if (check) {
  const committed = await readFile(SCHEMA, 'utf8').catch(() => '');
  if (committed !== generated) {
    console.error(
      'clients/typescript/src/schema.ts does not match openapi.json: run npm run client:generate',
    );
    process.exit(1);
  }
} else {
  await writeFile(SCHEMA, generated);
  console.log(`clients/typescript/src/schema.ts written from openapi.json`);
}
