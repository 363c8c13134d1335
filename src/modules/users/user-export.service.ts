import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { PoolClient } from 'pg';
import QueryStream from 'pg-query-stream';
import { DataSource, type ObjectLiteral, type QueryRunner, type SelectQueryBuilder } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { selectAs } from '../../common/pagination/select-as';
import { Company } from '../companies/company.entity';
import { CompanyDto } from '../companies/dto/company.dto';
import { Contact } from '../contacts/contact.entity';
import { ContactDto } from '../contacts/dto/contact.dto';
import { Deal } from '../deals/deal.entity';
import { DealDto } from '../deals/dto/deal.dto';
import { LeadDto } from '../leads/dto/lead.dto';
import { Lead } from '../leads/lead.entity';
import { OrganizationMember } from '../organizations/organization-member.entity';
import { Organization } from '../organizations/organization.entity';
import type { Role } from '../organizations/role.enum';
import { TaskDto } from '../tasks/dto/task.dto';
import { Task } from '../tasks/task.entity';
import { UserDto } from './dto/user.dto';
import { User } from './user.entity';

export interface MembershipExport {
  organizationId: string;
  name: string;
  role: Role;
  joinedAt: string;
}

/** One kind of record of the export: its key in the document and how to read and show it. */
interface Collection {
  key: 'contacts' | 'companies' | 'leads' | 'deals' | 'tasks';
  query: (organizationId: string, userId: string) => SelectQueryBuilder<ObjectLiteral>;
  toItem: (row: never) => unknown;
}

/** Output is handed on in pieces of about this size. */
const CHUNK_CHARACTERS = 64 * 1024;
/** Rows fetched from the database cursor per round trip. */
const CURSOR_BATCH = 500;

/**
 * GET /users/me/export (API.md section 11): the caller's profile, memberships and, per
 * organization they belong to, the contacts, companies, leads and deals they own and the tasks
 * of those deals, in the API's representations, oldest first. The document is read in one
 * read-only REPEATABLE READ transaction (a consistent snapshot) and streamed as it is read,
 * from database cursors: its size does not bound the server's memory.
 */
@Injectable()
export class UserExportService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Reads the profile and the memberships (a missing user is a 404 here, before anything is
   * sent), then returns the whole document as a stream of JSON text.
   */
  async open(userId: string): Promise<Readable> {
    const runner = this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as PoolClient;
    let started = false;
    const end = async (): Promise<void> => {
      try {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
      } finally {
        await runner.release();
      }
    };
    let user: User | null;
    let memberships: MembershipExport[];
    try {
      await runner.startTransaction('REPEATABLE READ');
      await runner.query('SET TRANSACTION READ ONLY');
      user = await runner.manager.findOneBy(User, { id: userId });
      if (!user) throw AppException.notFound('User');
      memberships = await this.memberships(runner, userId);
    } catch (e) {
      await end();
      throw e;
    }
    const profile = UserDto.from(user);
    const document = async function* (this: UserExportService): AsyncGenerator<string> {
      started = true;
      try {
        yield* this.document(client, profile, memberships);
      } finally {
        await end();
      }
    }.call(this);
    const stream = Readable.from(document, { objectMode: false });
    // Destroyed before its first read: the generator never ran, so its `finally` will not either.
    stream.once('close', () => {
      if (!started) void end().catch(() => undefined);
    });
    return stream;
  }

  private async memberships(runner: QueryRunner, userId: string): Promise<MembershipExport[]> {
    const rows = await runner.manager
      .createQueryBuilder(OrganizationMember, 'm')
      .innerJoin(Organization, 'o', 'o.id = m.organization_id')
      .select([
        'm.organization_id AS "organizationId"',
        'o.name AS "name"',
        'm.role AS "role"',
        'm.created_at AS "joinedAt"',
      ])
      .where('m.user_id = :userId', { userId })
      .orderBy('m.created_at', 'ASC')
      .addOrderBy('m.organization_id', 'ASC')
      .getRawMany<Omit<MembershipExport, 'joinedAt'> & { joinedAt: Date }>();
    return rows.map((m) => ({ ...m, joinedAt: m.joinedAt.toISOString() }));
  }

  /** The JSON text, in pieces of about CHUNK_CHARACTERS. */
  private async *document(
    client: PoolClient,
    user: UserDto,
    memberships: MembershipExport[],
  ): AsyncGenerator<string> {
    let buffer =
      `{"exportedAt":${JSON.stringify(new Date().toISOString())},"user":${JSON.stringify(user)},` +
      `"memberships":${JSON.stringify(memberships)},"organizations":[`;
    for (const [i, { organizationId }] of memberships.entries()) {
      buffer += `${i ? ',' : ''}{"organizationId":${JSON.stringify(organizationId)}`;
      for (const { key, query, toItem } of this.collections()) {
        buffer += `,"${key}":[`;
        const [sql, parameters] = query(organizationId, user.id).getQueryAndParameters();
        const rows = client.query(
          new QueryStream(sql, parameters as unknown[], { batchSize: CURSOR_BATCH }),
        );
        let first = true;
        for await (const row of rows as AsyncIterable<never>) {
          buffer += (first ? '' : ',') + JSON.stringify(toItem(row));
          first = false;
          if (buffer.length >= CHUNK_CHARACTERS) {
            yield buffer;
            buffer = '';
          }
        }
        buffer += ']';
      }
      buffer += '}';
    }
    yield `${buffer}]}`;
  }

  /** What the user owns in an organization; tasks: those of the deals they own. Oldest first. */
  private collections(): Collection[] {
    const owned = <T extends ObjectLiteral>(
      entity: new () => T,
      alias: string,
      columns: readonly string[],
    ): Collection['query'] => {
      return (organizationId, userId) =>
        this.dataSource
          .getRepository(entity)
          .createQueryBuilder(alias)
          .select(selectAs(alias, columns))
          .where(`${alias}.organization_id = :organizationId AND ${alias}.owner_id = :userId`, {
            organizationId,
            userId,
          })
          .orderBy(`${alias}.created_at`, 'ASC')
          .addOrderBy(`${alias}.id`, 'ASC');
    };
    return [
      {
        key: 'contacts',
        query: owned(Contact, 'c', CONTACT_COLUMNS),
        toItem: (row: Contact) => ContactDto.from(row),
      },
      {
        key: 'companies',
        query: owned(Company, 'co', COMPANY_COLUMNS),
        toItem: (row: Company) => CompanyDto.from(row),
      },
      {
        key: 'leads',
        query: owned(Lead, 'l', LEAD_COLUMNS),
        toItem: (row: Lead) => LeadDto.from(row),
      },
      {
        key: 'deals',
        query: owned(Deal, 'd', DEAL_COLUMNS),
        toItem: (row: Deal) => DealDto.from(row),
      },
      {
        key: 'tasks',
        query: (organizationId, userId) =>
          this.dataSource
            .getRepository(Task)
            .createQueryBuilder('t')
            .innerJoin(Deal, 'd', 'd.id = t.deal_id')
            .select(selectAs('t', TASK_COLUMNS))
            .where('t.organization_id = :organizationId AND d.owner_id = :userId', {
              organizationId,
              userId,
            })
            .orderBy('t.created_at', 'ASC')
            .addOrderBy('t.id', 'ASC'),
        toItem: (row: Task) => TaskDto.from(row),
      },
    ];
  }
}

const CONTACT_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'companyId',
  'name',
  'email',
  'phone',
  'createdAt',
  'updatedAt',
] as const;
const COMPANY_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'name',
  'domain',
  'industry',
  'phone',
  'address',
  'socialProfiles',
  'createdAt',
  'updatedAt',
] as const;
const LEAD_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'name',
  'email',
  'phone',
  'companyName',
  'source',
  'status',
  'disqualifyReason',
  'convertedAt',
  'convertedContactId',
  'convertedDealId',
  'createdAt',
  'updatedAt',
] as const;
const DEAL_COLUMNS = [
  'id',
  'organizationId',
  'contactId',
  'pipelineId',
  'ownerId',
  'title',
  'amount',
  'currency',
  'status',
  'stage',
  'lostReason',
  'createdAt',
  'updatedAt',
] as const;
const TASK_COLUMNS = [
  'id',
  'dealId',
  'title',
  'description',
  'dueDate',
  'isDone',
  'createdAt',
  'updatedAt',
] as const;
