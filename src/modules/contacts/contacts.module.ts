import { Module } from '@nestjs/common';
import { ContactsController } from './contacts.controller';
import { ContactsService } from './contacts.service';
import { ContactsUserData } from './contacts.user-data';

@Module({
  controllers: [ContactsController],
  providers: [ContactsService, ContactsUserData],
  exports: [ContactsService, ContactsUserData],
})
export class ContactsModule {}
