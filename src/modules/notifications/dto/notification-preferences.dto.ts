import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsObject, ValidateNested } from 'class-validator';
import { OptionalNotNull } from '../../../common/validation/transforms';

/*
 * The preferences of API.md section 14: per channel, a map of notification kind to on/off. The
 * kinds are properties of their own (their names have dots), so an unknown kind is an unknown
 * property: 400 VALIDATION_FAILED like every unknown property.
 */

/** One channel's choices in a PUT: any subset of the kinds (the others take their default). */
export class ChannelPreferencesInputDto {
  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'user.registered must be true or false' })
  'user.registered'?: boolean;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'member.added must be true or false' })
  'member.added'?: boolean;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'lead.created must be true or false' })
  'lead.created'?: boolean;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'deal.won must be true or false' })
  'deal.won'?: boolean;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'deal.lost must be true or false' })
  'deal.lost'?: boolean;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'task.created must be true or false' })
  'task.created'?: boolean;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'webhook.disabled must be true or false' })
  'webhook.disabled'?: boolean;

  @ApiPropertyOptional({ type: Boolean })
  @OptionalNotNull()
  @IsBoolean({ message: 'password.reset must be true or false' })
  'password.reset'?: boolean;
}

/** PUT /users/me/notification-preferences. */
export class NotificationPreferencesInputDto {
  @ApiPropertyOptional({ type: ChannelPreferencesInputDto })
  @OptionalNotNull()
  @IsObject({ message: 'email must be an object of kind: boolean' })
  @ValidateNested()
  @Type(() => ChannelPreferencesInputDto)
  email?: ChannelPreferencesInputDto;

  @ApiPropertyOptional({ type: ChannelPreferencesInputDto })
  @OptionalNotNull()
  @IsObject({ message: 'inApp must be an object of kind: boolean' })
  @ValidateNested()
  @Type(() => ChannelPreferencesInputDto)
  inApp?: ChannelPreferencesInputDto;

  @ApiPropertyOptional({ type: ChannelPreferencesInputDto })
  @OptionalNotNull()
  @IsObject({ message: 'sms must be an object of kind: boolean' })
  @ValidateNested()
  @Type(() => ChannelPreferencesInputDto)
  sms?: ChannelPreferencesInputDto;
}

/** One channel's choices: every kind. */
export class ChannelPreferencesDto {
  @ApiProperty()
  'user.registered': boolean;

  @ApiProperty()
  'member.added': boolean;

  @ApiProperty()
  'lead.created': boolean;

  @ApiProperty()
  'deal.won': boolean;

  @ApiProperty()
  'deal.lost': boolean;

  @ApiProperty()
  'task.created': boolean;

  @ApiProperty()
  'webhook.disabled': boolean;

  @ApiProperty()
  'password.reset': boolean;
}

/** The effective preferences: every channel, every kind. */
export class NotificationPreferencesDto {
  @ApiProperty({ type: ChannelPreferencesDto })
  email: ChannelPreferencesDto;

  @ApiProperty({ type: ChannelPreferencesDto })
  inApp: ChannelPreferencesDto;

  @ApiProperty({ type: ChannelPreferencesDto })
  sms: ChannelPreferencesDto;
}
