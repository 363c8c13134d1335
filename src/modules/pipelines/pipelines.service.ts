import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../common/http/request-context';
import type { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Paginator } from '../../common/pagination/paginator';
import { selectAs } from '../../common/pagination/select-as';
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

const inUse = (code: ErrorCode, message: string): AppException =>
  AppException.conflict(code, message);

@Injectable()
export class PipelinesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly paginator: Paginator,
  ) {}

  /** The default pipeline of a new organization (inside its creating transaction). */
  createDefault(manager: EntityManager, organizationId: string): Promise<Pipeline> {
    return manager.save(
      manager.create(Pipeline, {
        organizationId,
        name: 'Default pipeline',
        isDefault: true,
        stages: DEFAULT_PIPELINE_STAGES.map((s) => ({ ...s })),
      }),
    );
  }

  /**
   * The pipeline of the organization with this id (the default one when `id` is undefined);
   * 404 otherwise. In a transaction, `lock` holds it until the end: deal writes take a shared
   * lock (their stage rules read its stages), stage edits an exclusive one.
   */
  async find(
    manager: EntityManager,
    organizationId: string,
    id?: string,
    lock?: 'pessimistic_read' | 'pessimistic_write',
  ): Promise<Pipeline> {
    const query = manager
      .getRepository(Pipeline)
      .createQueryBuilder('p')
      .where('p.organization_id = :organizationId', { organizationId });
    if (id) query.andWhere('p.id = :id', { id });
    else query.andWhere('p.is_default');
    if (lock) query.setLock(lock);
    const pipeline = await query.getOne();
    if (!pipeline) throw AppException.notFound('Pipeline');
    return pipeline;
  }

  list(actor: Actor, query: ListQueryDto): Promise<ListResult<PipelineDto>> {
    const pipelines = this.dataSource
      .getRepository(Pipeline)
      .createQueryBuilder('p')
      .select(selectAs('p', COLUMNS))
      .where('p.organization_id = :organizationId', { organizationId: actor.organizationId });
    return this.paginator.list(
      pipelines,
      query,
      { column: 'p.created_at', type: 'timestamptz', id: 'p.id' },
      { endpoint: 'pipelines', actor, orderBy: 'createdAt' },
      (row: Pipeline) => PipelineDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<PipelineDto> {
    return PipelineDto.from(await this.find(this.dataSource.manager, actor.organizationId, id));
  }

  async create(actor: Actor, input: CreatePipelineDto): Promise<PipelineDto> {
    const pipeline = await this.dataSource.getRepository(Pipeline).save({
      organizationId: actor.organizationId,
      name: input.name,
      isDefault: false,
      stages: toStages(input.stages),
    });
    return PipelineDto.from(pipeline);
  }

  /**
   * Rename and/or replace the stage list. Stages that deals use must stay; and since won and
   * lost deals sit at the closing (last) stage while open ones may not, the closing stage may
   * only change while the pipeline has no closed deals, and never to a stage open deals use.
   */
  async update(actor: Actor, id: string, input: UpdatePipelineDto): Promise<PipelineDto> {
    const saved = await this.dataSource.transaction(async (manager) => {
      const pipeline = await this.find(manager, actor.organizationId, id, 'pessimistic_write');
      if (input.stages) {
        const stages = toStages(input.stages);
        await this.assertStagesCompatible(manager, pipeline, stages);
        pipeline.stages = stages;
      }
      if (input.name !== undefined) pipeline.name = input.name;
      return manager.save(pipeline);
    });
    return PipelineDto.from(saved);
  }

  async remove(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const pipeline = await this.find(manager, actor.organizationId, id, 'pessimistic_write');
      if (pipeline.isDefault)
        throw inUse(ErrorCode.PIPELINE_IN_USE, 'The default pipeline cannot be deleted');
      const deals = await manager.countBy(Deal, { pipelineId: pipeline.id });
      if (deals > 0) {
        throw inUse(
          ErrorCode.PIPELINE_IN_USE,
          `Pipeline has ${deals} deal${deals === 1 ? '' : 's'}; move or delete them first`,
        );
      }
      await manager.delete(Pipeline, { id: pipeline.id });
    });
  }

  private async assertStagesCompatible(
    manager: EntityManager,
    pipeline: Pipeline,
    next: PipelineStage[],
  ): Promise<void> {
    const rows = await manager
      .getRepository(Deal)
      .createQueryBuilder('d')
      .select('d.stage', 'stage')
      .addSelect(`bool_or(d.status IN ('${DealStatus.WON}', '${DealStatus.LOST}'))`, 'closed')
      .addSelect(`bool_or(d.status NOT IN ('${DealStatus.WON}', '${DealStatus.LOST}'))`, 'open')
      .where('d.pipeline_id = :id', { id: pipeline.id })
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
