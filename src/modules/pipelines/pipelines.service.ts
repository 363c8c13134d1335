import { Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { type EventType, subjectOf } from '../../events/catalog';
import type { Actor } from '../../tenancy/actor';
import { assertPrecondition } from '../../tenancy/precondition';
import type { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import {
  type RowLock,
  type TenantReader,
  type TenantTx,
  UnitOfWork,
} from '../../tenancy/unit-of-work';
import { Deal } from '../deals/deal.entity';
import { DealStatus } from '../deals/deal.enums';
import {
  CreatePipelineDto,
  PipelineDto,
  PipelineStageInputDto,
  UpdatePipelineDto,
} from './dto/pipeline.dto';
import { DEFAULT_PIPELINE_STAGES, Pipeline, PipelineStage } from './pipeline.entity';

const COLUMNS = [
  'id',
  'organizationId',
  'name',
  'isDefault',
  'stages',
  'createdAt',
  'updatedAt',
] as const;

/** Stage keys in order; the last one is the closing stage. */
export function stageKeys(pipeline: Pick<Pipeline, 'stages'>): string[] {
  return [...pipeline.stages].sort((a, b) => a.position - b.position).map((s) => s.key);
}

function toStages(input: PipelineStageInputDto[]): PipelineStage[] {
  const keys = input.map((s) => s.key);
  const duplicate = keys.find((k, i) => keys.indexOf(k) !== i);
  if (duplicate) {
    throw AppException.validation([
      { field: 'stages', message: `stage key ${duplicate} is used twice` },
    ]);
  }
  return input.map((s, position) => ({
    key: s.key,
    name: s.name,
    position,
    probability: s.probability,
  }));
}

/** The domain events of pipeline writes (API.md section 12): `data` is `{ pipeline }` as GET answers it. */
const PIPELINE_EVENT = {
  created: 'crm.pipeline.created.v1',
  updated: 'crm.pipeline.updated.v1',
  deleted: 'crm.pipeline.deleted.v1',
} as const satisfies Record<string, EventType>;

const subject = (pipeline: Pick<Pipeline, 'id'>): string => subjectOf('pipelines', pipeline.id);

/** The fields of a pipeline PATCH may change. */
const CHANGEABLE = ['name', 'stages'] as const;

const inUse = (code: ErrorCode, message: string): AppException =>
  AppException.conflict(code, message);

/**
 * The stage lock of a pipeline (docs/decisions/0033): a transaction-scoped advisory lock keyed by
 * the pipeline id, held until the commit. Deal writes that set a stage or a status (and deal
 * creation) take it shared, before they read the stages; a PATCH of the stages takes it
 * exclusive, after the pipeline row and before it checks the deals against the new stages. So a
 * stage edit never runs its check while a deal write that read the old stages is uncommitted, and
 * a deal write that waited for an edit reads the edited stages. Shared holders do not write the
 * pipeline row (unlike FOR SHARE, whose concurrent holders each wrote a new MultiXact into it).
 * A hash collision between two pipelines only makes an edit wait for deals of the other one.
 */
export function stageLockSql(mode: 'shared' | 'exclusive', pipelineIdSql: string): string {
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  return `${fn}(hashtextextended('pipeline-stages:' || ${pipelineIdSql}::text, 0))`;
}

/** Row locks `find` may take on a pipeline. */
type PipelineLock = RowLock | 'for_no_key_update';

/**
 * Pipelines and their stages (API.md section 8): the only writer of the pipelines table. Every
 * member of the organization sees every pipeline.
 */
@Injectable()
export class PipelinesService {
  constructor(private readonly uow: UnitOfWork) {}

  /** The default pipeline of a new organization (inside its creating transaction). */
  createDefault(tx: TenantTx): Promise<Pipeline> {
    return tx.repo(Pipeline).save({
      name: 'Default pipeline',
      isDefault: true,
      stages: DEFAULT_PIPELINE_STAGES.map((s) => ({ ...s })),
    });
  }

  /**
   * The pipeline of the reader's organization with this id (the default one when `pipelineId`
   * is undefined); 404 otherwise. In a transaction, `lock` holds the row until the end: PATCH
   * takes FOR NO KEY UPDATE, DELETE FOR UPDATE, deal creation FOR KEY SHARE (what its foreign key
   * takes anyway). Deal writes do not lock the row to read the stages: they take the stage lock
   * (`lockStagesShared`, `stageLockSql`) before reading it.
   */
  async find(
    reader: TenantReader,
    pipelineId: string | undefined,
    lock?: PipelineLock,
  ): Promise<Pipeline> {
    const query = reader.visible(Pipeline, 'p');
    if (pipelineId) query.andWhere('p.id = :id', { id: pipelineId });
    else query.andWhere('p.is_default');
    if (lock) query.setLock(lock);
    const pipeline = await query.getOne();
    if (!pipeline) throw AppException.notFound('Pipeline');
    return pipeline;
  }

  /**
   * Takes the shared stage lock of the pipeline with this id (the default one when undefined),
   * in a statement of its own: the stages must be read by a later statement, whose snapshot
   * then includes any stage edit that committed while this one waited. Nothing when there is no
   * such pipeline (the read that follows answers 404).
   */
  async lockStagesShared(tx: TenantTx, pipelineId: string | undefined): Promise<void> {
    const query = tx.query(Pipeline, 'p').select(stageLockSql('shared', 'p.id'), 'locked');
    if (pipelineId) query.andWhere('p.id = :id', { id: pipelineId });
    else query.andWhere('p.is_default');
    await query.getRawMany();
  }

  list(actor: Actor, query: ListQueryDto): Promise<ListResult<PipelineDto>> {
    const reader = this.uow.read(actor);
    const pipelines = reader.visible(Pipeline, 'p').select(selectAs('p', COLUMNS));
    return reader.list(
      pipelines,
      query,
      { column: 'p.created_at', type: 'timestamptz', id: 'p.id' },
      { endpoint: 'pipelines', orderBy: 'createdAt' },
      (row: Pipeline) => PipelineDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<PipelineDto> {
    return PipelineDto.from(await this.find(this.uow.read(actor), id));
  }

  async create(actor: Actor, input: CreatePipelineDto): Promise<PipelineDto> {
    return this.uow.run(actor, async (tx) => {
      const pipeline = await tx.repo(Pipeline).save({
        name: input.name,
        isDefault: false,
        stages: toStages(input.stages),
      });
      const dto = PipelineDto.from(pipeline);
      tx.emit(PIPELINE_EVENT.created, subject(pipeline), { pipeline: dto });
      return dto;
    });
  }

  /**
   * Rename and/or replace the stage list. Stages that deals use must stay; and since won and
   * lost deals sit at the closing (last) stage while open ones may not, the closing stage may
   * only change while the pipeline has no closed deals, and never to a stage open deals use.
   *
   * Concurrent deal writes (docs/decisions/0033): the row lock (FOR NO KEY UPDATE: edits and
   * deletions of the pipeline take turns; deal creation's FOR KEY SHARE and foreign key check
   * do not wait for it) is taken first, then, for a new stage list, the exclusive stage lock,
   * which waits for the deal writes that read the old stages to commit and holds back the later
   * ones until this edit commits; the deals are checked only then (a new statement: it sees
   * every committed deal). Always in this order (row, then stage lock), never the reverse.
   */
  async update(actor: Actor, id: string, input: UpdatePipelineDto): Promise<PipelineDto> {
    const saved = await this.uow.run(actor, async (tx) => {
      const pipeline = await this.find(tx, id, 'for_no_key_update');
      const before = PipelineDto.from(pipeline);
      // Validation (400) before If-Match (412, API.md section 17) before the rules (409).
      const stages = input.stages && toStages(input.stages);
      assertPrecondition(actor, 'Pipeline', pipeline);
      if (stages) {
        await tx
          .query(Pipeline, 'p')
          .select(stageLockSql('exclusive', 'p.id'), 'locked')
          .andWhere('p.id = :id', { id: pipeline.id })
          .getRawMany();
        await this.assertStagesCompatible(tx, pipeline, stages);
        pipeline.stages = stages;
      }
      if (input.name !== undefined) pipeline.name = input.name;
      const next = PipelineDto.from(pipeline);
      const changed = CHANGEABLE.filter(
        (key) => JSON.stringify(next[key]) !== JSON.stringify(before[key]),
      );
      // Setting what is already there is a no-op: nothing written, no event.
      if (!changed.length) return pipeline;
      const saved = await tx.repo(Pipeline).save(pipeline);
      tx.emit(PIPELINE_EVENT.updated, subject(saved), {
        pipeline: PipelineDto.from(saved),
        previous: Object.fromEntries(changed.map((key) => [key, before[key]])),
      });
      return saved;
    });
    return PipelineDto.from(saved);
  }

  async remove(actor: Actor, id: string): Promise<void> {
    await this.uow.run(actor, async (tx) => {
      const pipeline = await this.find(tx, id, 'pessimistic_write');
      assertPrecondition(actor, 'Pipeline', pipeline);
      if (pipeline.isDefault)
        throw inUse(ErrorCode.PIPELINE_IN_USE, 'The default pipeline cannot be deleted');
      const deals = await tx.repo(Deal).countBy({ pipelineId: pipeline.id });
      if (deals > 0) {
        throw inUse(
          ErrorCode.PIPELINE_IN_USE,
          `Pipeline has ${deals} deal${deals === 1 ? '' : 's'}; move or delete them first`,
        );
      }
      await tx.repo(Pipeline).delete({ id: pipeline.id });
      tx.emit(PIPELINE_EVENT.deleted, subject(pipeline), { pipeline: PipelineDto.from(pipeline) });
    });
  }

  /** Every deal of the pipeline counts, whoever owns it (not only those the actor sees). */
  private async assertStagesCompatible(
    tx: TenantTx,
    pipeline: Pipeline,
    next: PipelineStage[],
  ): Promise<void> {
    const rows = await tx
      .query(Deal, 'd')
      .select('d.stage', 'stage')
      .addSelect(`bool_or(d.status IN ('${DealStatus.WON}', '${DealStatus.LOST}'))`, 'closed')
      .addSelect(`bool_or(d.status NOT IN ('${DealStatus.WON}', '${DealStatus.LOST}'))`, 'open')
      .andWhere('d.pipeline_id = :id', { id: pipeline.id })
      .groupBy('d.stage')
      .getRawMany<{ stage: string; closed: boolean; open: boolean }>();
    const keys = next.map((s) => s.key);
    const closing = keys[keys.length - 1];
    for (const row of rows) {
      if (!keys.includes(row.stage)) {
        throw inUse(ErrorCode.STAGE_IN_USE, `Stage ${row.stage} is used by deals; move them first`);
      }
      if (row.closed && row.stage !== closing) {
        throw inUse(
          ErrorCode.STAGE_IN_USE,
          `Stage ${row.stage} holds won or lost deals and must stay the closing (last) stage`,
        );
      }
      if (row.open && row.stage === closing) {
        throw inUse(
          ErrorCode.STAGE_IN_USE,
          `Stage ${row.stage} holds open deals and cannot become the closing stage`,
        );
      }
    }
  }
}
