/**
 * The demo organization of `npm run seed:demo` (src/cli/seed-demo.ts): a small wholesale
 * software vendor, "Northwind Demo", with its team, customers, leads and deals. Every record has a
 * natural key (an email, a domain, a title, a name) by which a second run finds it, and an age in
 * days (`daysAgo`) so the data spreads over the last months as a real organization's would.
 * Companies, contacts and emails use the reserved `.example` top-level domain: nothing here
 * names a real business or reaches a real mailbox.
 */

export const DEMO_ORGANIZATION = 'Northwind Demo';
/** Local demo data only: printed at the end of every run, changed with --password. */
export const DEMO_PASSWORD = 'northwind-demo-2026';

export type UserKey = 'owner' | 'admin' | 'manager' | 'member' | 'sales' | 'analyst';

export interface DemoUser {
  key: UserKey;
  email: string;
  name: string;
  /** A built-in role, or the key of DEMO_ROLE. */
  role: string;
}

/** A custom role (API.md section 16): reads everything, changes nothing. */
export const DEMO_ROLE = {
  key: 'analyst',
  name: 'Analyst (read-only)',
  permissions: [
    'contacts',
    'companies',
    'leads',
    'deals',
    'tasks',
    'activities',
    'pipelines',
    'analytics',
  ].map((resource) => ({ resource, actions: ['read'], scope: 'all' })),
};

export const DEMO_USERS: readonly DemoUser[] = [
  { key: 'owner', email: 'owner@northwind.example', name: 'Olivia Bennett', role: 'owner' },
  { key: 'admin', email: 'admin@northwind.example', name: 'Aaron Patel', role: 'admin' },
  { key: 'manager', email: 'manager@northwind.example', name: 'Maya Chen', role: 'manager' },
  { key: 'member', email: 'member@northwind.example', name: 'Liam Novak', role: 'member' },
  { key: 'sales', email: 'sales@northwind.example', name: 'Sofia Rossi', role: 'member' },
  { key: 'analyst', email: 'analyst@northwind.example', name: 'Ethan Brooks', role: DEMO_ROLE.key },
];

export interface DemoCompany {
  name: string;
  domain: string;
  industry: string;
  phone: string;
  city: string;
  country: string;
  owner: UserKey;
  daysAgo: number;
}

export const DEMO_COMPANIES: readonly DemoCompany[] = [
  {
    name: 'Acme Logistics',
    domain: 'acme-logistics.example',
    industry: 'Logistics',
    phone: '+1 312 555 0140',
    city: 'Chicago',
    country: 'US',
    owner: 'member',
    daysAgo: 170,
  },
  {
    name: 'Blue Harbor Foods',
    domain: 'blueharbor.example',
    industry: 'Food & Beverage',
    phone: '+1 206 555 0178',
    city: 'Seattle',
    country: 'US',
    owner: 'sales',
    daysAgo: 160,
  },
  {
    name: 'Contoso Health',
    domain: 'contoso-health.example',
    industry: 'Healthcare',
    phone: '+44 20 7946 0321',
    city: 'London',
    country: 'GB',
    owner: 'manager',
    daysAgo: 150,
  },
  {
    name: 'Fabrikam Manufacturing',
    domain: 'fabrikam.example',
    industry: 'Manufacturing',
    phone: '+49 711 555 0199',
    city: 'Stuttgart',
    country: 'DE',
    owner: 'owner',
    daysAgo: 140,
  },
  {
    name: 'Globex Energy',
    domain: 'globex-energy.example',
    industry: 'Energy',
    phone: '+1 713 555 0112',
    city: 'Houston',
    country: 'US',
    owner: 'member',
    daysAgo: 120,
  },
  {
    name: 'Initech Software',
    domain: 'initech.example',
    industry: 'Software',
    phone: '+1 512 555 0163',
    city: 'Austin',
    country: 'US',
    owner: 'sales',
    daysAgo: 110,
  },
  {
    name: 'Lumen Retail',
    domain: 'lumen-retail.example',
    industry: 'Retail',
    phone: '+33 1 55 55 01 45',
    city: 'Paris',
    country: 'FR',
    owner: 'manager',
    daysAgo: 95,
  },
  {
    name: 'Tailspin Travel',
    domain: 'tailspin.example',
    industry: 'Travel',
    phone: '+34 91 555 0187',
    city: 'Madrid',
    country: 'ES',
    owner: 'member',
    daysAgo: 80,
  },
];

export interface DemoContact {
  name: string;
  email: string;
  phone: string;
  /** The domain of the company, or null for a contact of no company. */
  company: string | null;
  owner: UserKey;
  daysAgo: number;
}

export const DEMO_CONTACTS: readonly DemoContact[] = [
  {
    name: 'Jane Cooper',
    email: 'jane.cooper@acme-logistics.example',
    phone: '+1 312 555 0141',
    company: 'acme-logistics.example',
    owner: 'member',
    daysAgo: 168,
  },
  {
    name: 'Marcus Reed',
    email: 'marcus.reed@acme-logistics.example',
    phone: '+1 312 555 0142',
    company: 'acme-logistics.example',
    owner: 'member',
    daysAgo: 150,
  },
  {
    name: 'Hannah Lee',
    email: 'hannah.lee@blueharbor.example',
    phone: '+1 206 555 0179',
    company: 'blueharbor.example',
    owner: 'sales',
    daysAgo: 158,
  },
  {
    name: 'Omar Haddad',
    email: 'omar.haddad@blueharbor.example',
    phone: '+1 206 555 0180',
    company: 'blueharbor.example',
    owner: 'sales',
    daysAgo: 90,
  },
  {
    name: 'Priya Sharma',
    email: 'priya.sharma@contoso-health.example',
    phone: '+44 20 7946 0322',
    company: 'contoso-health.example',
    owner: 'manager',
    daysAgo: 148,
  },
  {
    name: 'George Wilson',
    email: 'george.wilson@contoso-health.example',
    phone: '+44 20 7946 0323',
    company: 'contoso-health.example',
    owner: 'manager',
    daysAgo: 60,
  },
  {
    name: 'Klaus Weber',
    email: 'klaus.weber@fabrikam.example',
    phone: '+49 711 555 0100',
    company: 'fabrikam.example',
    owner: 'owner',
    daysAgo: 138,
  },
  {
    name: 'Lena Fischer',
    email: 'lena.fischer@fabrikam.example',
    phone: '+49 711 555 0101',
    company: 'fabrikam.example',
    owner: 'owner',
    daysAgo: 70,
  },
  {
    name: 'Carlos Ortega',
    email: 'carlos.ortega@globex-energy.example',
    phone: '+1 713 555 0113',
    company: 'globex-energy.example',
    owner: 'member',
    daysAgo: 118,
  },
  {
    name: 'Emily Clark',
    email: 'emily.clark@globex-energy.example',
    phone: '+1 713 555 0114',
    company: 'globex-energy.example',
    owner: 'member',
    daysAgo: 45,
  },
  {
    name: 'David Kim',
    email: 'david.kim@initech.example',
    phone: '+1 512 555 0164',
    company: 'initech.example',
    owner: 'sales',
    daysAgo: 108,
  },
  {
    name: 'Rachel Green',
    email: 'rachel.green@initech.example',
    phone: '+1 512 555 0165',
    company: 'initech.example',
    owner: 'sales',
    daysAgo: 40,
  },
  {
    name: 'Camille Martin',
    email: 'camille.martin@lumen-retail.example',
    phone: '+33 1 55 55 01 46',
    company: 'lumen-retail.example',
    owner: 'manager',
    daysAgo: 93,
  },
  {
    name: 'Lucas Bernard',
    email: 'lucas.bernard@lumen-retail.example',
    phone: '+33 1 55 55 01 47',
    company: 'lumen-retail.example',
    owner: 'manager',
    daysAgo: 30,
  },
  {
    name: 'Sofia Navarro',
    email: 'sofia.navarro@tailspin.example',
    phone: '+34 91 555 0188',
    company: 'tailspin.example',
    owner: 'member',
    daysAgo: 78,
  },
  {
    name: 'Tom Baker',
    email: 'tom.baker@freelance.example',
    phone: '+1 415 555 0190',
    company: null,
    owner: 'sales',
    daysAgo: 20,
  },
];

export type LeadStatus = 'new' | 'contacted' | 'qualified' | 'disqualified' | 'converted';

export interface DemoLead {
  name: string;
  email: string;
  phone: string;
  companyName: string;
  source: string;
  status: LeadStatus;
  owner: UserKey;
  daysAgo: number;
  /** disqualified: the reason; converted: the title of the deal it becomes. */
  reason?: string;
  dealTitle?: string;
  amount?: number;
}

export const DEMO_LEADS: readonly DemoLead[] = [
  {
    name: 'Nina Petrova',
    email: 'nina@brightpath.example',
    phone: '+1 646 555 0101',
    companyName: 'Brightpath Education',
    source: 'website',
    status: 'new',
    owner: 'member',
    daysAgo: 3,
  },
  {
    name: 'Victor Alves',
    email: 'victor@coastalfreight.example',
    phone: '+1 305 555 0102',
    companyName: 'Coastal Freight',
    source: 'trade show',
    status: 'new',
    owner: 'sales',
    daysAgo: 6,
  },
  {
    name: 'Grace Obi',
    email: 'grace@greenleaf.example',
    phone: '+44 161 555 0103',
    companyName: 'Greenleaf Organics',
    source: 'webinar',
    status: 'new',
    owner: 'manager',
    daysAgo: 9,
  },
  {
    name: 'Samuel Berg',
    email: 'samuel@nordicsteel.example',
    phone: '+46 8 555 0104',
    companyName: 'Nordic Steel',
    source: 'referral',
    status: 'contacted',
    owner: 'member',
    daysAgo: 18,
  },
  {
    name: 'Aisha Khan',
    email: 'aisha@skyline-realty.example',
    phone: '+971 4 555 0105',
    companyName: 'Skyline Realty',
    source: 'cold call',
    status: 'contacted',
    owner: 'sales',
    daysAgo: 25,
  },
  {
    name: 'Peter Novak',
    email: 'peter@riverbank.example',
    phone: '+420 2 5555 0106',
    companyName: 'Riverbank Credit Union',
    source: 'website',
    status: 'qualified',
    owner: 'manager',
    daysAgo: 33,
  },
  {
    name: 'Julia Santos',
    email: 'julia@pixelforge.example',
    phone: '+55 11 5555 0107',
    companyName: 'Pixelforge Studio',
    source: 'trade show',
    status: 'disqualified',
    owner: 'sales',
    daysAgo: 47,
    reason: 'No budget this year',
  },
  {
    name: 'Daniel Wright',
    email: 'daniel@northbridge-dental.example',
    phone: '+1 617 555 0108',
    companyName: 'Northbridge Dental',
    source: 'referral',
    status: 'converted',
    owner: 'member',
    daysAgo: 64,
    dealTitle: 'Northbridge Dental practice suite',
    amount: 14500,
  },
];

export interface DemoTask {
  title: string;
  /** Days from today; negative: overdue (unless done). */
  dueInDays: number;
  done?: boolean;
}

export type DealTarget = 'new' | 'in_progress' | 'won' | 'lost';

export interface DemoDeal {
  title: string;
  /** The email of its contact. */
  contact: string;
  pipeline: 'default' | 'renewals';
  status: DealTarget;
  /** Open deals: the stage they stand at; won and lost deals: the last stage reached before closing. */
  stage: string;
  amount: number;
  currency: string;
  owner: UserKey;
  daysAgo: number;
  lostReason?: string;
  comments: string[];
  tasks: DemoTask[];
}

export const DEMO_DEALS: readonly DemoDeal[] = [
  // The default pipeline: qualification, proposal, negotiation, closed.
  {
    title: 'Acme fleet tracking rollout',
    contact: 'jane.cooper@acme-logistics.example',
    pipeline: 'default',
    status: 'new',
    stage: 'qualification',
    amount: 12000,
    currency: 'USD',
    owner: 'member',
    daysAgo: 12,
    comments: ['Inbound request after the logistics webinar; 40 trucks to start.'],
    tasks: [{ title: 'Discovery call with Jane', dueInDays: 2 }],
  },
  {
    title: 'Acme warehouse scanners pilot',
    contact: 'marcus.reed@acme-logistics.example',
    pipeline: 'default',
    status: 'new',
    stage: 'proposal',
    amount: 6800,
    currency: 'USD',
    owner: 'member',
    daysAgo: 21,
    comments: ['Marcus wants a two-site pilot before committing.'],
    tasks: [{ title: 'Send pilot proposal', dueInDays: -3 }],
  },
  {
    title: 'Blue Harbor cold-chain sensors',
    contact: 'hannah.lee@blueharbor.example',
    pipeline: 'default',
    status: 'in_progress',
    stage: 'qualification',
    amount: 8500,
    currency: 'USD',
    owner: 'sales',
    daysAgo: 35,
    comments: ['Budget confirmed for Q3.', 'Needs integration with their existing ERP.'],
    tasks: [
      { title: 'Check ERP connector options', dueInDays: 5 },
      { title: 'Intro call', dueInDays: -20, done: true },
    ],
  },
  {
    title: 'Contoso patient portal',
    contact: 'priya.sharma@contoso-health.example',
    pipeline: 'default',
    status: 'in_progress',
    stage: 'proposal',
    amount: 42000,
    currency: 'GBP',
    owner: 'manager',
    daysAgo: 58,
    comments: [
      'Proposal v1 sent; legal review on their side.',
      'Priya asked for a GDPR data-flow diagram.',
    ],
    tasks: [
      { title: 'Send GDPR data-flow diagram', dueInDays: -6 },
      { title: 'Follow up on proposal', dueInDays: 4 },
    ],
  },
  {
    title: 'Fabrikam plant automation',
    contact: 'klaus.weber@fabrikam.example',
    pipeline: 'default',
    status: 'in_progress',
    stage: 'negotiation',
    amount: 95000,
    currency: 'EUR',
    owner: 'owner',
    daysAgo: 88,
    comments: ['Negotiating a three-year term with a 5% discount.'],
    tasks: [
      { title: 'Prepare final contract', dueInDays: 7 },
      { title: 'Site visit in Stuttgart', dueInDays: -30, done: true },
    ],
  },
  {
    title: 'Globex field service app',
    contact: 'carlos.ortega@globex-energy.example',
    pipeline: 'default',
    status: 'in_progress',
    stage: 'negotiation',
    amount: 27000,
    currency: 'USD',
    owner: 'member',
    daysAgo: 64,
    comments: ['Procurement wants net-60 payment terms.'],
    tasks: [{ title: 'Answer procurement questionnaire', dueInDays: -2 }],
  },
  {
    title: 'Initech license expansion',
    contact: 'david.kim@initech.example',
    pipeline: 'default',
    status: 'won',
    stage: 'negotiation',
    amount: 18000,
    currency: 'USD',
    owner: 'sales',
    daysAgo: 100,
    comments: ['Signed for 150 additional seats.'],
    tasks: [{ title: 'Hand over to onboarding', dueInDays: -45, done: true }],
  },
  {
    title: 'Lumen in-store analytics',
    contact: 'camille.martin@lumen-retail.example',
    pipeline: 'default',
    status: 'won',
    stage: 'negotiation',
    amount: 33000,
    currency: 'EUR',
    owner: 'manager',
    daysAgo: 80,
    comments: ['Won against two competitors on reporting depth.'],
    tasks: [],
  },
  {
    title: 'Tailspin booking integration',
    contact: 'sofia.navarro@tailspin.example',
    pipeline: 'default',
    status: 'lost',
    stage: 'proposal',
    amount: 15000,
    currency: 'EUR',
    owner: 'member',
    daysAgo: 70,
    lostReason: 'Chose a cheaper competitor',
    comments: ['Price was 20% above their budget.'],
    tasks: [],
  },
  {
    title: 'Globex safety training portal',
    contact: 'emily.clark@globex-energy.example',
    pipeline: 'default',
    status: 'lost',
    stage: 'qualification',
    amount: 4000,
    currency: 'USD',
    owner: 'member',
    daysAgo: 40,
    lostReason: 'Project cancelled',
    comments: ['Internal project frozen after the reorganisation.'],
    tasks: [],
  },
  // The "Renewals" pipeline: due, review, committed, closed.
  {
    title: 'Initech support renewal',
    contact: 'rachel.green@initech.example',
    pipeline: 'renewals',
    status: 'new',
    stage: 'due',
    amount: 6000,
    currency: 'USD',
    owner: 'sales',
    daysAgo: 10,
    comments: ['Contract ends in two months.'],
    tasks: [{ title: 'Send renewal quote', dueInDays: 10 }],
  },
  {
    title: 'Acme platform renewal',
    contact: 'jane.cooper@acme-logistics.example',
    pipeline: 'renewals',
    status: 'in_progress',
    stage: 'review',
    amount: 24000,
    currency: 'USD',
    owner: 'member',
    daysAgo: 28,
    comments: ['They are reviewing usage numbers before renewing.'],
    tasks: [{ title: 'Share usage report', dueInDays: -1 }],
  },
  {
    title: 'Contoso annual renewal',
    contact: 'george.wilson@contoso-health.example',
    pipeline: 'renewals',
    status: 'in_progress',
    stage: 'committed',
    amount: 30000,
    currency: 'GBP',
    owner: 'manager',
    daysAgo: 45,
    comments: ['Verbal commitment; waiting for the purchase order.'],
    tasks: [{ title: 'Chase purchase order', dueInDays: 3 }],
  },
  {
    title: 'Lumen maintenance renewal',
    contact: 'lucas.bernard@lumen-retail.example',
    pipeline: 'renewals',
    status: 'won',
    stage: 'committed',
    amount: 9000,
    currency: 'EUR',
    owner: 'manager',
    daysAgo: 60,
    comments: ['Renewed for two years.'],
    tasks: [],
  },
  {
    title: 'Blue Harbor support renewal',
    contact: 'omar.haddad@blueharbor.example',
    pipeline: 'renewals',
    status: 'lost',
    stage: 'review',
    amount: 7000,
    currency: 'USD',
    owner: 'sales',
    daysAgo: 50,
    lostReason: 'Moved support in-house',
    comments: ['They hired their own support team.'],
    tasks: [],
  },
];

/** The second pipeline (its last stage is its closing stage, API.md section 11). */
export const RENEWALS_PIPELINE = {
  name: 'Renewals',
  stages: [
    { key: 'due', name: 'Renewal due', probability: 30 },
    { key: 'review', name: 'Under review', probability: 60 },
    { key: 'committed', name: 'Committed', probability: 90 },
    { key: 'closed', name: 'Closed', probability: 100 },
  ],
};

/**
 * Webhooks, created disabled: they point to the documentation domain example.com (RFC 2606)
 * and are never called while disabled. Enable one with a URL of yours to receive events.
 */
export const DEMO_WEBHOOKS = [
  {
    url: 'https://example.com/northwind-demo/deals',
    events: ['deal.*'],
    description: 'Deal pipeline to the data warehouse (demo, disabled)',
  },
  {
    url: 'https://example.com/northwind-demo/leads',
    events: ['lead.created', 'lead.converted'],
    description: 'New leads to the marketing tool (demo, disabled)',
  },
];
