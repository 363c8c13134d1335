import { Injectable } from '@nestjs/common';
import { selectAs } from '../../common/pagination/select-as';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { oldestFirst, type UserDataProvider } from '../../tenancy/user-data';
import { Contact } from './contact.entity';
import { CONTACT_COLUMNS } from './contacts.service';
import { ContactDto } from './dto/contact.dto';

/** The contacts part of a user's data export: the contacts they own, oldest first. */
@Injectable()
export class ContactsUserData implements UserDataProvider {
  forUserExport(reader: TenantReader, userId: string): AsyncGenerator<ContactDto> {
    const query = reader
      .query(Contact, 'c')
      .select(selectAs('c', CONTACT_COLUMNS))
      .andWhere('c.owner_id = :userId', { userId });
    return oldestFirst(reader, query, 'c', (row: Contact) => ContactDto.from(row));
  }
}
