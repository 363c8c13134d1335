import { Module } from '@nestjs/common';
import { ContactsModule } from '../contacts/contacts.module';
import { DealAccessModule } from './deal-access.module';
import { DealsController } from './deals.controller';
import { DealsService } from './deals.service';

@Module({
  imports: [ContactsModule, DealAccessModule],
  controllers: [DealsController],
  providers: [DealsService],
  exports: [DealsService],
})
export class DealsModule {}
