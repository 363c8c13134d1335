// Serialization cost of a page of 20 contacts: JSON.stringify (what the app uses) against
// fast-json-stringify with a schema (what Fastify response schemas would use). Decision record
// docs/decisions/0025-response-serialization.md. Run: node bench/micro/serialization.js
'use strict';
const fjs = require('fast-json-stringify');

const item = (i) => ({
  id: `6f1c1c1e-1111-4222-8333-9444555566${String(i).padStart(2, '0')}`,
  organizationId: '978e6095-89d1-495f-8236-1ed19597230c',
  ownerId: '1a2b3c4d-1111-4222-8333-944455556666',
  name: `Robert Rogers ${i}`,
  email: `robert.rogers.${i}@mail.test`,
  phone: '+19 053529346',
  companyId: null,
  createdAt: '2026-11-21T10:00:00.000Z',
  updatedAt: '2026-11-21T10:00:00.000Z',
});
const page = { items: Array.from({ length: 20 }, (_, i) => item(i)), total: 1000000, page: 1, pageSize: 20 };
const str = { type: 'string' };
const nullable = { type: ['string', 'null'] };
const schemaStringify = fjs({
  type: 'object',
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: str, organizationId: str, ownerId: str, name: str, email: nullable, phone: nullable,
          companyId: nullable, createdAt: str, updatedAt: str,
        },
      },
    },
    total: { type: 'integer' },
    page: { type: 'integer' },
    pageSize: { type: 'integer' },
  },
});
if (schemaStringify(page) !== JSON.stringify(page)) throw new Error('outputs differ');

for (let round = 0; round < 2; round++) {
  for (const [name, fn] of [['JSON.stringify', JSON.stringify], ['fast-json-stringify', schemaStringify]]) {
    const n = 200_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(page);
    const us = Number(process.hrtime.bigint() - start) / 1e3 / n;
    console.log(`${name.padEnd(20)} ${us.toFixed(2)} µs per page (${JSON.stringify(page).length} bytes)`);
  }
}
