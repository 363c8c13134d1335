import { CrmCore1795292771086 } from './1795292771086-CrmCore';
import { SalesPipeline1795294377413 } from './1795294377413-SalesPipeline';
import { DealFilterIndex1795298171768 } from './1795298171768-DealFilterIndex';
import { Foundation1795291187924 } from './1795291187924-Foundation';
import { SearchStatistics1796233021709 } from './1796233021709-SearchStatistics';
import { AnalyticsIndexes1796400000000 } from './1796400000000-AnalyticsIndexes';
import { Events1796500000000 } from './1796500000000-Events';
import { EventConsumers1796600000000 } from './1796600000000-EventConsumers';
import { ContactSearch1796700000000 } from './1796700000000-ContactSearch';
import { Webhooks1796800000000 } from './1796800000000-Webhooks';
import { Notifications1796900000000 } from './1796900000000-Notifications';
import { AccessControl1797050000000 } from './1797050000000-AccessControl';
import { SingleSignOn1797000000000 } from './1797000000000-SingleSignOn';
import { PasswordReset1797100000000 } from './1797100000000-PasswordReset';
import { AuditLogApi1797200000000 } from './1797200000000-AuditLogApi';
import { IdempotencyKeys1797300000000 } from './1797300000000-IdempotencyKeys';
import { RecordVersions1797400000000 } from './1797400000000-RecordVersions';

/** Every migration, in order. `npm run migration:generate` adds a file; list it here too. */
export const MIGRATIONS = [
  Foundation1795291187924,
  CrmCore1795292771086,
  SalesPipeline1795294377413,
  DealFilterIndex1795298171768,
  SearchStatistics1796233021709,
  AnalyticsIndexes1796400000000,
  Events1796500000000,
  EventConsumers1796600000000,
  ContactSearch1796700000000,
  Webhooks1796800000000,
  Notifications1796900000000,
  SingleSignOn1797000000000,
  AccessControl1797050000000,
  PasswordReset1797100000000,
  AuditLogApi1797200000000,
  IdempotencyKeys1797300000000,
  RecordVersions1797400000000,
];
