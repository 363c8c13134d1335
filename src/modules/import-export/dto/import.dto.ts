import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { ErrorDetailDto } from '../../../common/dto/error-response.dto';

export const ON_DUPLICATE = ['skip', 'update', 'fail'] as const;
export type OnDuplicate = (typeof ON_DUPLICATE)[number];

/** Only the words true and false (any case); anything else stays a string and fails @IsBoolean. */
const toBoolean = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? (({ true: true, false: false } as Record<string, boolean>)[value.toLowerCase()] ?? value)
    : value;

export class ImportQueryDto {
  @ApiPropertyOptional({
    enum: ON_DUPLICATE,
    default: 'skip',
    description:
      'What to do with a row whose key (contacts: email, companies: domain; case-insensitive) is already used ' +
      'in the organization or by an earlier row of the file. skip: the row is not imported (counted in skipped). ' +
      'update: the row updates that record (its non-empty cells replace the stored values; a later row of the file ' +
      'updates the record an earlier row created or updated). fail: any duplicate fails the whole import with 409 ' +
      'DUPLICATES_FOUND, whose details list every duplicate row, and nothing is written.',
  })
  @IsOptional()
  @IsIn(ON_DUPLICATE)
  onDuplicate: OnDuplicate = 'skip';

  @ApiPropertyOptional({
    type: Boolean,
    default: false,
    description:
      'true: answers exactly the report (or error) a real import would, and writes nothing (the import runs in a ' +
      'transaction that is rolled back).',
  })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  dryRun: boolean = false;
}

export class ImportRowErrorDto {
  @ApiProperty({ example: 3, description: 'Line of the row in the file; the header is line 1' })
  row: number;

  @ApiProperty({
    type: [ErrorDetailDto],
    description:
      'Why the row was not imported: the validation errors of the single-record endpoint, per column',
  })
  errors: ErrorDetailDto[];
}

export class ImportReportDto {
  @ApiProperty({ example: 4, description: 'Data rows in the file (blank lines are not rows)' })
  total: number;

  @ApiProperty({ example: 2 })
  created: number;

  @ApiProperty({ example: 0 })
  updated: number;

  @ApiProperty({ example: 1, description: 'Duplicates left alone (onDuplicate=skip)' })
  skipped: number;

  @ApiProperty({
    type: [ImportRowErrorDto],
    description:
      'Rows that were not imported, by line; total = created + updated + skipped + failed',
  })
  failed: ImportRowErrorDto[];
}
