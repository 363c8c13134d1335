import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  IsArray,
  IsEmail,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Min,
  ValidateNested,
} from 'class-validator';
import { AppException, type ErrorDetail } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import { createValidationPipe } from './validation';

class GeoDto {
  @IsInt()
  @Min(0)
  zoom: number;
}

class AddressDto {
  @IsString()
  @IsNotEmpty()
  city: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => GeoDto)
  geo?: GeoDto;
}

class ContactDto {
  @IsEmail()
  email: string;

  @ValidateNested()
  @Type(() => AddressDto)
  address: AddressDto;

  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => AddressDto)
  others?: AddressDto[];
}

async function validationError(value: unknown): Promise<AppException> {
  const error = await createValidationPipe()
    .transform(value, { type: 'body', metatype: ContactDto })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(AppException);
  const appError = error as AppException;
  expect(appError.status).toBe(400);
  expect(appError.code).toBe(ErrorCode.VALIDATION_FAILED);
  return appError;
}

const fields = (details: ErrorDetail[] | undefined): string[] =>
  [...new Set((details ?? []).map((d) => d.field))].sort();

describe('createValidationPipe', () => {
  it('transforms a valid body into the DTO class, nested objects included', async () => {
    const result: unknown = await createValidationPipe().transform(
      { email: 'a@example.com', address: { city: 'Oslo', geo: { zoom: 3 } } },
      { type: 'body', metatype: ContactDto },
    );
    expect(result).toBeInstanceOf(ContactDto);
    expect((result as ContactDto).address).toBeInstanceOf(AddressDto);
    expect((result as ContactDto).address.geo).toBeInstanceOf(GeoDto);
  });

  it('reports a top-level error with its property as the field', async () => {
    const error = await validationError({ email: 'nope', address: { city: 'Oslo' } });
    expect(error.details).toEqual([{ field: 'email', message: 'email must be an email' }]);
  });

  it('flattens nested errors to parent.child field paths', async () => {
    const error = await validationError({
      email: 'a@example.com',
      address: { city: '', geo: { zoom: -1 } },
    });
    expect(fields(error.details)).toEqual(['address.city', 'address.geo.zoom']);
    expect(error.details).toContainEqual({
      field: 'address.city',
      message: 'city should not be empty',
    });
    expect(error.details).toContainEqual({
      field: 'address.geo.zoom',
      message: 'zoom must not be less than 0',
    });
  });

  it('uses the array index in the path of an element of a nested array', async () => {
    const error = await validationError({
      email: 'a@example.com',
      address: { city: 'Oslo' },
      others: [{ city: 'Rome' }, { city: 7 }],
    });
    expect(fields(error.details)).toEqual(['others.1.city']);
  });

  it('reports unknown properties, nested ones by their path', async () => {
    const error = await validationError({
      email: 'a@example.com',
      address: { city: 'Oslo', street: 'x' },
      isAdmin: true,
    });
    expect(error.details).toEqual(
      expect.arrayContaining([
        { field: 'isAdmin', message: 'property isAdmin should not exist' },
        { field: 'address.street', message: 'property street should not exist' },
      ]),
    );
    expect(fields(error.details)).toEqual(['address.street', 'isAdmin']);
  });

  it('reports several problems at once', async () => {
    const error = await validationError({ email: 5, address: { city: '' } });
    expect(fields(error.details)).toEqual(['address.city', 'email']);
  });

  it('does not echo rejected values back in messages', async () => {
    const error = await validationError({ email: 'secret-value', address: { city: 'Oslo' } });
    expect(JSON.stringify(error.details)).not.toContain('secret-value');
  });

  describe('an empty query string', () => {
    class PageQueryDto {
      @IsOptional()
      @IsInt()
      @Min(1)
      page: number = 1;
    }
    class RequiredQueryDto {
      @IsString()
      @IsNotEmpty()
      q: string;
    }

    it('gives the DTO with its defaults every time (validated once, then reused)', async () => {
      const pipe = createValidationPipe();
      for (let i = 0; i < 3; i++) {
        const dto: unknown = await pipe.transform({}, { type: 'query', metatype: PageQueryDto });
        expect(dto).toBeInstanceOf(PageQueryDto);
        expect(dto).toEqual({ page: 1 });
      }
    });

    it('is refused every time by a DTO that needs a parameter, and a filled query still validates', async () => {
      const pipe = createValidationPipe();
      for (let i = 0; i < 2; i++) {
        await expect(
          pipe.transform({}, { type: 'query', metatype: RequiredQueryDto }),
        ).rejects.toMatchObject({ code: ErrorCode.VALIDATION_FAILED });
      }
      await pipe.transform({}, { type: 'query', metatype: PageQueryDto });
      await expect(
        pipe.transform({ page: 0 }, { type: 'query', metatype: PageQueryDto }),
      ).rejects.toMatchObject({ code: ErrorCode.VALIDATION_FAILED });
    });
  });
});
