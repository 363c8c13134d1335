import type { Readable } from 'node:stream';
import {
  applyDecorators,
  Controller,
  Get,
  HttpCode,
  Post,
  Query,
  Req,
  Res,
  StreamableFile,
} from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Can } from '../../tenancy/access/access.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../tenancy/actor';
import { COMPANY_IMPORT_COLUMNS, CompaniesImporter } from './companies.importer';
import { CONTACT_IMPORT_COLUMNS, ContactsImporter } from './contacts.importer';
import { exportFileName } from './csv/csv-export';
import { FILE_FIELD, IMPORT_MAX_FILE_BYTES, openCsvUpload } from './csv/csv-upload';
import {
  CompanyExportQueryDto,
  ContactExportQueryDto,
  DealExportQueryDto,
} from './dto/export-query.dto';
import { ImportQueryDto, ImportReportDto } from './dto/import.dto';
import {
  COMPANY_EXPORT_COLUMNS,
  CONTACT_EXPORT_COLUMNS,
  DEAL_EXPORT_COLUMNS,
  ExportService,
} from './export.service';
import { ImportRunner } from './import-runner';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';

const CSV_TYPE = 'text/csv; charset=utf-8';

/** OpenAPI of an import route: the multipart body, the report and the errors of API.md. */
function ApiImport(what: string, columns: readonly string[], rules: string): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: `Import ${what} from a CSV file`,
      description:
        `multipart/form-data with the CSV in a "${FILE_FIELD}" part (UTF-8, optional BOM, comma-separated, ` +
        `RFC 4180 quoting, at most ${IMPORT_MAX_FILE_BYTES / (1024 * 1024)} MB). The first line is the header: ` +
        `${columns.join(',')} (each once, any order, case-insensitive). Every data row is validated as the body of ` +
        `the single-record endpoint; an empty cell means the field is absent. Valid rows are imported, each invalid ` +
        `row is reported with its line (the header is line 1) and its errors; blank lines are ignored. ${rules} ` +
        'Imported records are owned by the caller. The whole import is one transaction.',
    }),
    ApiConsumes('multipart/form-data'),
    ApiBody({
      required: true,
      schema: {
        type: 'object',
        required: [FILE_FIELD],
        properties: {
          [FILE_FIELD]: {
            type: 'string',
            format: 'binary',
            description: `CSV with the header ${columns.join(',')}`,
          },
        },
      },
    }),
    ApiOkResponse({ type: ImportReportDto, description: 'The import report' }),
    ApiError(
      400,
      [ErrorCode.VALIDATION_FAILED],
      'VALIDATION_FAILED: bad query parameters, no "file" part, a header with unknown, repeated or missing columns, a file that is not UTF-8 CSV',
    ),
    ApiError(
      409,
      [ErrorCode.DUPLICATES_FOUND],
      'DUPLICATES_FOUND (onDuplicate=fail): details list every duplicate row ({row, field, message}); nothing is written',
    ),
    ApiError(413, [ErrorCode.PAYLOAD_TOO_LARGE], 'The file is over 10 MB'),
    ApiError(415, [ErrorCode.UNSUPPORTED_MEDIA_TYPE], 'The request is not multipart/form-data'),
  );
}

/** OpenAPI of an export route. */
function ApiExport(
  what: string,
  one: string,
  columns: readonly string[],
  list: string,
): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: `Export ${what} as CSV`,
      description:
        `Every ${one} that ${list} would list (same filters, visibility and order, no pagination), ` +
        `streamed as text/csv (UTF-8, no BOM, lines end with LF) as an attachment. Columns: ${columns.join(',')}. ` +
        'Timestamps are ISO-8601 UTC, amounts decimal strings with two fraction digits, null an empty cell. A cell ' +
        "beginning with =, +, -, @, tab or carriage return is prefixed with ' (spreadsheet formula injection).",
    }),
    // The media type on the 200 alone (ApiProduces would give the JSON errors text/csv too).
    ApiOkResponse({
      description: `CSV: a header row (${columns.join(',')}), then one row per ${one}`,
      content: { 'text/csv': { schema: { type: 'string', format: 'binary' } } },
      headers: {
        'Content-Disposition': {
          description: `attachment; filename="${what}-YYYY-MM-DD.csv"`,
          schema: { type: 'string' },
        },
      },
    }),
  );
}

function attachment(reply: FastifyReply, stream: Readable, name: string): StreamableFile {
  void reply.header('cache-control', 'no-store');
  return new StreamableFile(stream, {
    type: CSV_TYPE,
    disposition: `attachment; filename="${name}"`,
  });
}

@Controller()
export class ImportExportController {
  constructor(
    private readonly runner: ImportRunner,
    private readonly exports: ExportService,
    private readonly contactsImporter: ContactsImporter,
    private readonly companiesImporter: CompaniesImporter,
  ) {}

  @Post('contacts/import')
  @Idempotent()
  @HttpCode(200)
  @Can('import:create', 'contacts:create')
  @ApiTags('contacts')
  @ApiImport(
    'contacts',
    CONTACT_IMPORT_COLUMNS,
    'Duplicates are matched on email (case-insensitive) within the organization and within the file. ' +
      'companyName links the contact to the oldest company of that name (case-insensitive) visible to the caller, ' +
      'and creates that company (name only) when there is none. With onDuplicate=update a member may only update ' +
      "contacts they own: a duplicate of someone else's contact is a failed row.",
  )
  async importContacts(
    @CurrentActor() actor: Actor,
    @Query() query: ImportQueryDto,
    @Req() request: FastifyRequest,
  ): Promise<ImportReportDto> {
    const upload = await openCsvUpload(request);
    return this.runner.run(this.contactsImporter, actor, upload.file, query);
  }

  @Get('contacts/export')
  @Can('export:read', 'contacts:read')
  @ApiTags('contacts')
  @ApiExport('contacts', 'contact', CONTACT_EXPORT_COLUMNS, 'GET /contacts')
  async exportContacts(
    @CurrentActor() actor: Actor,
    @Query() query: ContactExportQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile> {
    return attachment(reply, await this.exports.contacts(actor, query), exportFileName('contacts'));
  }

  @Post('companies/import')
  @Idempotent()
  @HttpCode(200)
  @Can('import:create', 'companies:create')
  @ApiTags('companies')
  @ApiImport(
    'companies',
    COMPANY_IMPORT_COLUMNS,
    'country is the address country (ISO-3166 alpha-2). Duplicates are matched on domain (stored lower-cased) ' +
      'within the organization and within the file. An update sets the non-empty cells (country replaces only the ' +
      "address's country). With onDuplicate=update a member may only update companies they own: a duplicate of " +
      "someone else's company is a failed row.",
  )
  async importCompanies(
    @CurrentActor() actor: Actor,
    @Query() query: ImportQueryDto,
    @Req() request: FastifyRequest,
  ): Promise<ImportReportDto> {
    const upload = await openCsvUpload(request);
    return this.runner.run(this.companiesImporter, actor, upload.file, query);
  }

  @Get('companies/export')
  @Can('export:read', 'companies:read')
  @ApiTags('companies')
  @ApiExport('companies', 'company', COMPANY_EXPORT_COLUMNS, 'GET /companies')
  async exportCompanies(
    @CurrentActor() actor: Actor,
    @Query() query: CompanyExportQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile> {
    return attachment(
      reply,
      await this.exports.companies(actor, query),
      exportFileName('companies'),
    );
  }

  @Get('deals/export')
  @Can('export:read', 'deals:read')
  @ApiTags('deals')
  @ApiExport('deals', 'deal', DEAL_EXPORT_COLUMNS, 'GET /deals')
  async exportDeals(
    @CurrentActor() actor: Actor,
    @Query() query: DealExportQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile> {
    return attachment(reply, await this.exports.deals(actor, query), exportFileName('deals'));
  }
}
