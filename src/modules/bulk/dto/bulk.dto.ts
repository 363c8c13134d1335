import { applyDecorators, type Type as ClassType } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsOptional,
  isUUID,
  ValidateBy,
  ValidateIf,
  type ValidationArguments,
} from 'class-validator';
import { ErrorResponseDto } from '../../../common/dto/error-response.dto';
import { ArrayOfObjects } from '../../../common/validation/nested';
import { ErrorCode } from '../../../common/errors/error-code.enum';
import { CreateCompanyDto, UpdateCompanyDto } from '../../companies/dto/company-input.dto';
import { ContactInputDto } from '../../contacts/dto/contact-input.dto';
import { UpdateContactDto } from '../../contacts/dto/update-contact.dto';
import { CreateDealDto, UpdateDealDto } from '../../deals/dto/deal-input.dto';

/** The most operations one bulk request may carry (API.md section 17). */
export const BULK_MAX_OPERATIONS = 100;

export const BULK_OPS = ['create', 'update', 'delete'] as const;
export type BulkOp = (typeof BULK_OPS)[number];

const opOf = (args: ValidationArguments): unknown => (args.object as { op?: unknown }).op;

/**
 * `id`: required (a UUID) for update and delete, not allowed for create. Validated when present,
 * and when absent for update/delete (ValidateIf), so the document can call it optional.
 */
const IsOperationId = (): PropertyDecorator =>
  applyDecorators(
    ValidateIf(
      (o: { op?: unknown }, value: unknown) =>
        value !== undefined || o.op === 'update' || o.op === 'delete',
    ),
    Transform(({ value }: { value: unknown }) =>
      typeof value === 'string' ? value.toLowerCase() : value,
    ),
    ValidateBy({
      name: 'isOperationId',
      validator: {
        validate: (value: unknown, args?: ValidationArguments) =>
          args !== undefined && opOf(args) === 'create'
            ? value === undefined
            : typeof value === 'string' && isUUID(value, 'all'),
        defaultMessage: (args?: ValidationArguments) =>
          args !== undefined && opOf(args) === 'create'
            ? 'id must not be given for create'
            : 'id must be a UUID',
      },
    }),
  );

/**
 * `data`: required (an object) for create and update, not allowed for delete. Its properties are
 * validated per operation, with the single-record endpoint's DTO (a failure is that operation's
 * 400, not the request's).
 */
const IsOperationData = (): PropertyDecorator =>
  applyDecorators(
    ValidateIf(
      (o: { op?: unknown }, value: unknown) =>
        value !== undefined || o.op === 'create' || o.op === 'update',
    ),
    ValidateBy({
      name: 'isOperationData',
      validator: {
        validate: (value: unknown, args?: ValidationArguments) =>
          args !== undefined && opOf(args) === 'delete'
            ? value === undefined
            : typeof value === 'object' && value !== null && !Array.isArray(value),
        defaultMessage: (args?: ValidationArguments) =>
          args !== undefined && opOf(args) === 'delete'
            ? 'data must not be given for delete'
            : 'data must be an object',
      },
    }),
  );

const ID_DOC = {
  format: 'uuid',
  description: 'The record to change: required for update and delete, not allowed for create',
};

/**
 * anyOf, not oneOf: every property of an update body is optional, so each create body is also a
 * valid update body, and "exactly one of" would refuse them all. `op` says which one applies.
 */
const dataDoc = (create: ClassType<unknown>, update: ClassType<unknown>, resource: string) => ({
  anyOf: [{ $ref: getSchemaPath(create) }, { $ref: getSchemaPath(update) }],
  description:
    `Required for create and update, not allowed for delete. create: the body of POST /${resource} ` +
    `(${create.name}); update: the properties to change (${update.name}, PATCH semantics: absent ` +
    'properties stay). Validated per operation: unknown or malformed properties make that operation a 400.',
});

/** One operation of a bulk request: what the single-record endpoint would receive. */
export abstract class BulkOperationDto {
  @ApiProperty({ enum: BULK_OPS, enumName: 'BulkOp', example: 'create' })
  @IsIn(BULK_OPS)
  op: BulkOp;

  @ApiPropertyOptional(ID_DOC)
  @IsOperationId()
  id?: string;
}

export class ContactBulkOperationDto extends BulkOperationDto {
  @ApiPropertyOptional(dataDoc(ContactInputDto, UpdateContactDto, 'contacts'))
  @IsOperationData()
  data?: Record<string, unknown>;
}

export class CompanyBulkOperationDto extends BulkOperationDto {
  @ApiPropertyOptional(dataDoc(CreateCompanyDto, UpdateCompanyDto, 'companies'))
  @IsOperationData()
  data?: Record<string, unknown>;
}

export class DealBulkOperationDto extends BulkOperationDto {
  @ApiPropertyOptional(dataDoc(CreateDealDto, UpdateDealDto, 'deals'))
  @IsOperationData()
  data?: Record<string, unknown>;
}

const operationsDoc = (example: object[]) => ({
  minItems: 1,
  maxItems: BULK_MAX_OPERATIONS,
  description: `1..${BULK_MAX_OPERATIONS} operations, applied in order`,
  example,
});

const Operations = (type: () => ClassType<unknown>): PropertyDecorator =>
  ArrayOfObjects(type, { min: 1, max: BULK_MAX_OPERATIONS });

const SOME_ID = '4c2e8f0a-6b1d-4e3a-9f5c-2d7b8a1e0c93';

/** POST /contacts/bulk. */
export class ContactBulkRequestDto {
  @ApiProperty({
    type: [ContactBulkOperationDto],
    ...operationsDoc([
      { op: 'create', data: { name: 'Grace Hopper', email: 'grace@navy.example' } },
      { op: 'update', id: SOME_ID, data: { phone: '+1 (555) 010-2030' } },
      { op: 'delete', id: '7d1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b' },
    ]),
  })
  @Operations(() => ContactBulkOperationDto)
  operations: ContactBulkOperationDto[];
}

/** POST /companies/bulk. */
export class CompanyBulkRequestDto {
  @ApiProperty({
    type: [CompanyBulkOperationDto],
    ...operationsDoc([
      { op: 'create', data: { name: 'Acme Corporation', domain: 'acme.example' } },
      { op: 'update', id: SOME_ID, data: { industry: 'Retail' } },
      { op: 'delete', id: '7d1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b' },
    ]),
  })
  @Operations(() => CompanyBulkOperationDto)
  operations: CompanyBulkOperationDto[];
}

/** POST /deals/bulk. */
export class DealBulkRequestDto {
  @ApiProperty({
    type: [DealBulkOperationDto],
    ...operationsDoc([
      { op: 'create', data: { contactId: SOME_ID, title: 'Annual licence', amount: 1500 } },
      { op: 'update', id: '2b3c4d5e-6f70-4a8b-9c0d-1e2f3a4b5c6d', data: { status: 'in_progress' } },
      { op: 'delete', id: '7d1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b' },
    ]),
  })
  @Operations(() => DealBulkOperationDto)
  operations: DealBulkOperationDto[];
}

/** Only the words true and false (any case); anything else stays a string and fails @IsBoolean. */
const toBoolean = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? (({ true: true, false: false } as Record<string, boolean>)[value.toLowerCase()] ?? value)
    : value;

export class BulkQueryDto {
  @ApiPropertyOptional({
    type: Boolean,
    default: false,
    description:
      'true: all or nothing. The operations run in order in one transaction; the first that fails rolls ' +
      'everything back and the answer is 409 BULK_FAILED with the results so far. false: each operation ' +
      'runs and commits on its own; the answer is 200 whatever their outcomes.',
  })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  atomic: boolean = false;
}

/** An operation that succeeded (or, in a 409 BULK_FAILED, would have: nothing was committed). */
export class BulkSuccessResultDto {
  @ApiProperty({ example: 0, description: 'Position of the operation in the request (from 0)' })
  index: number;

  @ApiProperty({
    enum: [200, 201, 204],
    example: 201,
    description: 'What the single-record endpoint answers: 201 create, 200 update, 204 delete',
  })
  status: number;

  @ApiProperty({
    format: 'uuid',
    description: 'The record: the one created, or the one updated or deleted',
  })
  id: string;
}

/** An operation that failed: the status and error body the single-record endpoint would answer. */
export class BulkFailureResultDto {
  @ApiProperty({ example: 1, description: 'Position of the operation in the request (from 0)' })
  index: number;

  @ApiProperty({ example: 404, description: "The single-record endpoint's error status" })
  status: number;

  @ApiProperty({
    type: ErrorResponseDto,
    description:
      "The error body the single-record endpoint would answer (validation details included); its requestId is this request's",
  })
  error: ErrorResponseDto;
}

export type BulkResult = BulkSuccessResultDto | BulkFailureResultDto;

const RESULTS_DOC: Pick<SchemaObject, 'items'> & { type: 'array' } = {
  type: 'array',
  items: {
    oneOf: [
      { $ref: getSchemaPath(BulkSuccessResultDto) },
      { $ref: getSchemaPath(BulkFailureResultDto) },
    ],
  },
};

/** 200 of a bulk request. */
export class BulkResponseDto {
  @ApiProperty({
    ...RESULTS_DOC,
    description: 'One result per operation, in the order of the request',
    example: [
      { index: 0, status: 201, id: SOME_ID },
      {
        index: 1,
        status: 404,
        error: {
          statusCode: 404,
          code: 'NOT_FOUND',
          message: 'Contact not found',
          requestId: '6f1c2a9e-3a0b-4f4e-9d55-2b1f0c7d9a10',
        },
      },
    ],
  })
  results: BulkResult[];
}

/** 409 BULK_FAILED (atomic=true): the error body with the results up to the failure. */
export class BulkFailedErrorDto {
  @ApiProperty({ example: 409 })
  statusCode: number;

  @ApiProperty({ enum: [ErrorCode.BULK_FAILED], example: ErrorCode.BULK_FAILED })
  code: ErrorCode.BULK_FAILED;

  @ApiProperty({ example: 'Operation 1 failed; nothing was applied' })
  message: string;

  @ApiProperty({ example: '6f1c2a9e-3a0b-4f4e-9d55-2b1f0c7d9a10' })
  requestId: string;

  @ApiProperty({
    ...RESULTS_DOC,
    description:
      'The operations up to and including the first failure, in order: those before it with the status ' +
      'they had (nothing of them was committed: the ids of created records do not exist), the failed one ' +
      'with its error. The operations after it did not run and are not listed.',
  })
  results: BulkResult[];
}
