import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { CsvError, type Options, parse } from 'csv-parse';
import { AppException, type ErrorDetail } from '../../../common/errors/app.exception';
import { FILE_FIELD, payloadTooLarge } from './csv-upload';

/** A data row's cells by column name; an empty (or blank) cell is absent. */
export type Cells = Partial<Record<string, string>>;

/** A data row: its line in the file (the header is line 1) and its cells, or why it is unusable. */
export type CsvRow = { line: number; cells: Cells } | { line: number; errors: ErrorDetail[] };

/** The file as it arrives: a stream that the upload truncates at the size limit. */
export interface CsvSource extends Readable {
  truncated?: boolean;
}

const fileError = (message: string): AppException =>
  AppException.validation([{ field: FILE_FIELD, message }]);

const NOT_UTF8 = 'the file is not valid UTF-8 text';

/** Checks that the bytes are UTF-8 as they pass (unchanged); csv-parse decodes them. */
class Utf8Check extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.decoder.decode(chunk, { stream: true });
      done(null, chunk);
    } catch {
      done(fileError(NOT_UTF8));
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.decoder.decode();
      done();
    } catch {
      done(fileError(NOT_UTF8));
    }
  }
}

/** A record of the file and the line it begins on. */
interface ParsedRecord {
  record: string[];
  line: number;
}

/** Physical lines a record's raw text spans (CRLF, LF or CR each end one line). */
const lineBreaks = (raw: string): number => raw.match(/\r\n|\r|\n/g)?.length ?? 0;

const isBlank = (cells: string[]): boolean => cells.every((cell) => cell.trim() === '');

/** Longer rows are refused (400): no valid row comes near, and the parser slows down on them. */
const MAX_ROW_CHARACTERS = 64 * 1024;

/** Reads what is left of `source` into nothing, until its end (or its failure). */
async function drain(source: CsvSource, from: Transform): Promise<void> {
  source.unpipe(from);
  source.resume();
  await finished(source).catch(() => undefined);
}

const CSV_ERRORS: Partial<Record<string, string>> = {
  CSV_MAX_RECORD_SIZE: `a row is longer than ${MAX_ROW_CHARACTERS} characters`,
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is not closed',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote must be followed by a comma or the end of the line',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE:
    'a closing quote must be followed by a comma or the end of the line',
};

/**
 * Reads a CSV upload as it streams in (csv-parse; UTF-8, optional BOM, CRLF or LF): checks the
 * header against `columns` (each exactly once, in any order, case-insensitive; else 400), then
 * yields each data row with the line it starts on. Blank lines, and rows whose cells are all
 * blank, are not data rows. A row with another number of fields than the header is yielded
 * as an error row. A file that is not CSV or not UTF-8 is a 400; a file over the size limit a
 * 413 (rows past the limit are not yielded).
 */
export async function* readCsvRows(
  source: CsvSource,
  columns: readonly string[],
): AsyncGenerator<CsvRow> {
  let overLimit = false;
  source.once('limit', () => (overLimit = true));
  // The line each record begins on, counted as the parser goes (so that a parse error can
  // name the line of the record it stopped in, even before the records ahead are read).
  let nextLine = 1;
  const options: Options<ParsedRecord, { record: string[]; raw: string }> = {
    bom: true,
    raw: true,
    relax_column_count: true,
    encoding: 'utf8',
    max_record_size: MAX_ROW_CHARACTERS,
    on_record: ({ record, raw }) => {
      const line = nextLine;
      nextLine += lineBreaks(raw);
      return { record, line };
    },
  };
  const parser = parse(options as unknown as Options); // the typings know on_record only with `columns`
  const utf8 = new Utf8Check();
  // Errors of any stage reach the parser, whose iteration below throws them; the source is
  // left intact, to be drained (see drain) whatever happens.
  source.on('error', (e) => parser.destroy(e));
  utf8.on('error', (e) => parser.destroy(e));
  source.pipe(utf8).pipe(parser);

  let header: number[] | null = null;
  try {
    for await (const { record, line } of parser as AsyncIterable<ParsedRecord>) {
      if (overLimit) continue; // drain what is left, then answer 413
      if (isBlank(record)) continue;
      if (!header) {
        header = headerIndexes(record, columns);
        continue;
      }
      if (record.length !== header.length) {
        yield {
          line,
          errors: [
            {
              field: 'row',
              message: `row has ${record.length} fields, the header has ${header.length}`,
            },
          ],
        };
        continue;
      }
      const cells: Cells = {};
      columns.forEach((column, i) => {
        const value = record[header![i]];
        if (value.trim() !== '') cells[column] = value;
      });
      yield { line, cells };
    }
  } catch (e) {
    // Read the file to its end (discarding it) before answering: the client is still sending
    // it, and whether it is over the limit decides the answer (413 before any 400).
    await drain(source, utf8);
    if (overLimit || source.truncated) throw payloadTooLarge();
    if (e instanceof CsvError) {
      const what = CSV_ERRORS[e.code] ?? 'the file is not valid CSV';
      throw fileError(`line ${nextLine}: ${what}`); // the line the faulty row begins on
    }
    throw e;
  } finally {
    // Stopped early (an error, or the consumer gave up): the rest of the upload still flows.
    source.unpipe(utf8);
    source.resume();
  }
  if (overLimit || source.truncated) throw payloadTooLarge();
  if (!header) throw fileError(`the file is empty; expected the header row ${columns.join(',')}`);
}

/**
 * For each expected column (in `columns` order), its position in the file's header row.
 * 400 VALIDATION_FAILED naming every unknown, repeated or missing column.
 */
function headerIndexes(record: string[], columns: readonly string[]): number[] {
  const byName = new Map(columns.map((c) => [c.toLowerCase(), c]));
  const found = new Map<string, number>();
  const problems: ErrorDetail[] = [];
  record.forEach((cell, i) => {
    const name = cell.trim();
    const column = byName.get(name.toLowerCase());
    if (!name) {
      problems.push({ field: FILE_FIELD, message: `column ${i + 1} of the header has no name` });
    } else if (!column) {
      const shown = name.length > 100 ? `${name.slice(0, 100)}…` : name;
      problems.push({
        field: FILE_FIELD,
        message: `unknown column "${shown}" in the header; expected ${columns.join(',')}`,
      });
    } else if (found.has(column)) {
      problems.push({ field: FILE_FIELD, message: `column "${column}" appears twice` });
    } else {
      found.set(column, i);
    }
  });
  for (const column of columns) {
    if (!found.has(column)) {
      problems.push({ field: FILE_FIELD, message: `missing column "${column}" in the header` });
    }
  }
  if (problems.length) throw AppException.validation(problems, 'The CSV header is not valid');
  return columns.map((c) => found.get(c)!);
}
