import { ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { ContactInputDto } from './contact-input.dto';

/**
 * A contact change with PATCH semantics (the `update` of POST /contacts/bulk): every property of
 * ContactInputDto, with its validation, optional; absent properties stay as they are. An explicit
 * null is validated (`skipNullProperties: false`): it clears email, phone and companyId, and is a
 * 400 for name and ownerId.
 */
export class UpdateContactDto extends PartialType(ContactInputDto, { skipNullProperties: false }) {}

// The descriptions of ContactInputDto speak of create and replace; these are a change's.
ApiPropertyOptional({
  format: 'uuid',
  description:
    'Unchanged when absent; only owners, admins and managers may change it, to a member of the organization',
})(UpdateContactDto.prototype, 'ownerId');
ApiPropertyOptional({
  type: String,
  format: 'uuid',
  nullable: true,
  description:
    'A company of the organization visible to the caller (404 otherwise); null unlinks the contact; unchanged when absent',
})(UpdateContactDto.prototype, 'companyId');
