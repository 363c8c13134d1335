import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsText } from '../../../common/validation/text';
import { OptionalNotNull, Trim } from '../../../common/validation/transforms';
import { IsPhone } from '../../../common/validation/phone';

/** PATCH /users/me (API.md sections 14 and 16): only the given fields change. */
export class UpdateMeDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'Ada Lovelace' })
  @OptionalNotNull()
  @Trim()
  @IsText(1, 200)
  name?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 5,
    maxLength: 32,
    example: '+1 555 010 2030',
    description:
      'For text messages (notification preferences, channel sms). The phone rules of contacts: digits with an optional leading +, spaces, dashes, dots or parentheses; give the country code (+...) for SMS. null removes it',
  })
  @IsOptional()
  @IsPhone()
  phone?: string | null;
}
