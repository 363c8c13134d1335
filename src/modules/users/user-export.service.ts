import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import type { RequestMeta } from '../../common/http/request-context';
import { Role } from '../../tenancy/role';
import { Grants } from '../../tenancy/permissions';
import { type SystemTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { CompaniesUserData } from '../companies/companies.user-data';
import { ContactsUserData } from '../contacts/contacts.user-data';
import { DealsUserData } from '../deals/deals.user-data';
import { LeadsUserData } from '../leads/leads.user-data';
import { type Membership, OrganizationsService } from '../organizations/organizations.service';
import { TasksUserData } from '../tasks/tasks.user-data';
import { UserDto } from './dto/user.dto';
import type { UserDataProvider } from '../../tenancy/user-data';
import { User } from './user.entity';

export interface MembershipExport {
  organizationId: string;
  name: string;
  role: string;
  joinedAt: string;
}

/** Output is handed on in pieces of about this size. */
const CHUNK_CHARACTERS = 64 * 1024;

/**
 * GET /users/me/export (API.md section 11): the caller's profile, memberships and, per
 * organization they belong to, each feature's part (the contacts, companies, leads and deals
 * they own and the tasks of those deals), in the API's representations, oldest first. The
 * document is read in one read-only REPEATABLE READ transaction (a consistent snapshot) and
 * streamed as it is read: its size does not bound the server's memory.
 */
@Injectable()
export class UserExportService {
  /** The features' parts, with their keys in the document, in the document's order. */
  private readonly parts: [string, UserDataProvider][];

  constructor(
    private readonly uow: UnitOfWork,
    private readonly organizations: OrganizationsService,
    contacts: ContactsUserData,
    companies: CompaniesUserData,
    leads: LeadsUserData,
    deals: DealsUserData,
    tasks: TasksUserData,
  ) {
    this.parts = [
      ['contacts', contacts],
      ['companies', companies],
      ['leads', leads],
      ['deals', deals],
      ['tasks', tasks],
    ];
  }

  /**
   * Reads the profile and the memberships (a missing user is a 404 here, before anything is
   * sent), then returns the whole document as a stream of JSON text. The snapshot's transaction
   * stays open until the stream closes (its end, an error, or the client going away).
   */
  open(userId: string, meta: RequestMeta): Promise<Readable> {
    return new Promise<Readable>((resolve, reject) => {
      this.uow
        .system(
          async (tx) => {
            const user = await tx.repo(User).findOneBy({ id: userId });
            if (!user) throw AppException.notFound('User');
            const memberships = await this.organizations.membershipsOf(tx, userId);
            const document = this.document(tx, UserDto.from(user), memberships, meta);
            const stream = Readable.from(document, { objectMode: false });
            const closed = new Promise((done) => stream.once('close', done));
            resolve(stream);
            await closed;
          },
          { readOnly: true },
        )
        .catch(reject);
    });
  }

  /** The JSON text, in pieces of about CHUNK_CHARACTERS. */
  private async *document(
    tx: SystemTx,
    user: UserDto,
    memberships: Membership[],
    meta: RequestMeta,
  ): AsyncGenerator<string> {
    const listed: MembershipExport[] = memberships.map((m) => ({
      organizationId: m.organization.id,
      name: m.organization.name,
      role: m.role,
      joinedAt: m.joinedAt.toISOString(),
    }));
    let buffer =
      `{"exportedAt":${JSON.stringify(new Date().toISOString())},"user":${JSON.stringify(user)},` +
      `"memberships":${JSON.stringify(listed)},"organizations":[`;
    for (const [i, { organizationId, role }] of listed.entries()) {
      // The parts read what the user owns, by explicit owner filters: an own-scope view suffices.
      const reader = tx.tenant({
        ...meta,
        userId: user.id,
        organizationId,
        role,
        grants: Grants.of(Role.MEMBER),
      });
      buffer += `${i ? ',' : ''}{"organizationId":${JSON.stringify(organizationId)}`;
      for (const [key, part] of this.parts) {
        buffer += `,"${key}":[`;
        let first = true;
        for await (const item of part.forUserExport(reader, user.id)) {
          buffer += (first ? '' : ',') + JSON.stringify(item);
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
}
