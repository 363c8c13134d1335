import { selectAs } from '../../common/pagination/select-as';
import { RelatedReads } from '../../tenancy/related-reads';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { ACTIVITY_COLUMNS } from '../activities/activities.service';
import { Activity } from '../activities/activity.entity';
import { ActivityDto } from '../activities/dto/activity.dto';
import { Company } from '../companies/company.entity';
import { CompanyDto } from '../companies/dto/company.dto';
import { Contact } from '../contacts/contact.entity';
import { ContactDto } from '../contacts/dto/contact.dto';
import { PipelineDto } from '../pipelines/dto/pipeline.dto';
import { Pipeline } from '../pipelines/pipeline.entity';
import { TaskDto } from '../tasks/dto/task.dto';
import { Task } from '../tasks/task.entity';
import { taskSelection } from '../tasks/tasks.service';
import {
  type DealInclude,
  type DealWithRelationsDto,
  EMBEDDED_ACTIVITIES,
} from './dto/deal-with-relations.dto';
import type { DealDto } from './dto/deal.dto';

/**
 * `deals` (in their order) with the related records `include` names (API.md section 18): at
 * most one statement per relation whatever the number of deals (contacts, companies, pipelines,
 * tasks, activities), each read with the actor's own visibility of that resource (RelatedReads).
 * The company is the one of the deal's contact as the actor sees it: when the contact is not
 * readable, neither is the link to its company (docs/decisions/0045).
 */
export async function withDealRelations(
  reader: TenantReader,
  deals: DealDto[],
  include: readonly DealInclude[],
): Promise<DealWithRelationsDto[]> {
  const wanted = new Set(include);
  const related = new RelatedReads(reader);
  const dealIds = deals.map((deal) => deal.id);
  const contactsRead =
    wanted.has('contact') || wanted.has('company')
      ? related.byId(
          Contact,
          deals.map((deal) => deal.contactId),
          (contact) => ContactDto.from(contact),
        )
      : undefined;
  const [contacts, companies, pipelines, tasks, activities] = await Promise.all([
    contactsRead,
    wanted.has('company')
      ? contactsRead!.then((found) =>
          related.byId(
            Company,
            [...found.values()].map((contact) => contact.companyId),
            (company) => CompanyDto.from(company),
          ),
        )
      : undefined,
    wanted.has('pipeline')
      ? related.byId(
          Pipeline,
          deals.map((deal) => deal.pipelineId),
          (pipeline) => PipelineDto.from(pipeline),
        )
      : undefined,
    wanted.has('tasks')
      ? related.byParent(
          Task,
          'deal_id',
          dealIds,
          taskSelection,
          { newestBy: 'created_at' },
          (task: Task) => TaskDto.from(task),
        )
      : undefined,
    wanted.has('activities')
      ? related.byParent(
          Activity,
          'deal_id',
          dealIds,
          (alias) => selectAs(alias, ACTIVITY_COLUMNS),
          { newestBy: 'created_at', limit: EMBEDDED_ACTIVITIES },
          (activity: Activity) => ActivityDto.from(activity),
        )
      : undefined,
  ]);
  return deals.map((deal) => {
    // A copy: the deal's ETag (a non-enumerable property) stays behind, since the answer now
    // also changes with the embedded records.
    const answer: DealWithRelationsDto = { ...deal };
    const contact = contacts?.get(deal.contactId) ?? null;
    if (wanted.has('contact')) answer.contact = contact;
    if (companies)
      answer.company = (contact?.companyId && companies.get(contact.companyId)) || null;
    if (pipelines) answer.pipeline = pipelines.get(deal.pipelineId) ?? null;
    if (tasks) answer.tasks = tasks.get(deal.id) ?? [];
    if (activities) answer.activities = activities.get(deal.id) ?? [];
    return answer;
  });
}
