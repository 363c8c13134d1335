import { HttpStatus } from '@nestjs/common';
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { AppException } from '../../../common/errors/app.exception';
import { ErrorCode } from '../../../common/errors/error-code.enum';

/** The largest CSV file an import accepts (API.md section 11): 10 MB. */
export const IMPORT_MAX_FILE_BYTES = 10 * 1024 * 1024;

/**
 * What a multipart request may add around the file (boundaries, part headers, a few small
 * fields). A request declaring more than the file limit plus this cannot hold an acceptable
 * file, so it is refused before anything is read.
 */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** The multipart field that carries the CSV file. */
export const FILE_FIELD = 'file';

export const payloadTooLarge = (): AppException =>
  new AppException(
    HttpStatus.PAYLOAD_TOO_LARGE,
    ErrorCode.PAYLOAD_TOO_LARGE,
    `The file is larger than ${IMPORT_MAX_FILE_BYTES / (1024 * 1024)} MB`,
  );

const fileError = (message: string): AppException =>
  AppException.validation([{ field: FILE_FIELD, message }]);

/** The uploaded file: its stream (not read yet), truncated at the size limit. */
export type CsvUpload = MultipartFile;

/**
 * Opens the `file` part of a multipart/form-data import request, with the import's own size
 * limit. Called by the handler, so after the guards and the query validation: nothing of the
 * body is read before the caller is known to be allowed. 415 when the request is not
 * multipart, 400 when the `file` part is missing or the body is malformed, 413 when it is
 * over the limit (here when the declared length says so, or while the file is read).
 */
export async function openCsvUpload(request: FastifyRequest): Promise<CsvUpload> {
  if (!request.isMultipart()) {
    throw new AppException(
      HttpStatus.UNSUPPORTED_MEDIA_TYPE,
      ErrorCode.UNSUPPORTED_MEDIA_TYPE,
      `Send the CSV file as multipart/form-data, in a "${FILE_FIELD}" field`,
    );
  }
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > IMPORT_MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES) {
    throw payloadTooLarge();
  }
  let part: MultipartFile | undefined;
  try {
    part = await request.file({
      throwFileSizeLimit: true,
      limits: { fileSize: IMPORT_MAX_FILE_BYTES, files: 1, fields: 10, fieldSize: 1024, parts: 20 },
    });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 413) throw payloadTooLarge();
    throw fileError('the multipart/form-data body is malformed');
  }
  if (!part) throw fileError(`${FILE_FIELD} is required (a CSV file part named "${FILE_FIELD}")`);
  if (part.fieldname !== FILE_FIELD) {
    part.file.resume(); // let the rest of the request through, unread
    throw fileError(`the CSV file must be sent in a part named "${FILE_FIELD}"`);
  }
  return part;
}
