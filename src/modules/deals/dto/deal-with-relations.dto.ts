import { ApiPropertyOptional } from '@nestjs/swagger';
import { IncludeNames } from '../../../common/validation/include';
import { ActivityDto } from '../../activities/dto/activity.dto';
import { CompanyDto } from '../../companies/dto/company.dto';
import { ContactDto } from '../../contacts/dto/contact.dto';
import { PipelineDto } from '../../pipelines/dto/pipeline.dto';
import { TaskDto } from '../../tasks/dto/task.dto';
import { DealDto } from './deal.dto';

/** What `include` may name on GET /deals and GET /deals/{id} (API.md section 18). */
export const DEAL_INCLUDES = ['contact', 'company', 'pipeline', 'tasks', 'activities'] as const;
export type DealInclude = (typeof DEAL_INCLUDES)[number];

/** How many activities `include=activities` embeds per deal: the newest. */
export const EMBEDDED_ACTIVITIES = 20;

export const DEAL_INCLUDE_DESCRIPTION =
  "Related records to embed, each in the shape of its own GET: contact, company (the contact's " +
  `company), pipeline, tasks (newest first), activities (the ${EMBEDDED_ACTIVITIES} newest). ` +
  'A record the caller may not read is null; a list leaves it out. With include, GET /deals/{id} ' +
  'carries no ETag (the embedded records change without the deal).';

/** GET /deals/{id}: only `include`. */
export class DealGetQueryDto {
  @IncludeNames(DEAL_INCLUDES, 'DealInclude', DEAL_INCLUDE_DESCRIPTION)
  include?: DealInclude[];
}

/**
 * A deal with the related records `include` named (API.md section 18); without include, exactly
 * a DealDto. Each embedded record is what its own GET answers.
 */
export class DealWithRelationsDto extends DealDto {
  @ApiPropertyOptional({
    type: ContactDto,
    nullable: true,
    description: "include=contact: the deal's contact; null when the caller may not read it",
  })
  contact?: ContactDto | null;

  @ApiPropertyOptional({
    type: CompanyDto,
    nullable: true,
    description:
      "include=company: the company of the deal's contact; null when the contact has none, or " +
      'the caller may not read the contact or the company',
  })
  company?: CompanyDto | null;

  @ApiPropertyOptional({
    type: PipelineDto,
    nullable: true,
    description:
      "include=pipeline: the deal's pipeline; null when the caller may not read pipelines",
  })
  pipeline?: PipelineDto | null;

  @ApiPropertyOptional({
    type: [TaskDto],
    description:
      "include=tasks: the deal's tasks the caller may read, newest first (createdAt, then id)",
  })
  tasks?: TaskDto[];

  @ApiPropertyOptional({
    type: [ActivityDto],
    description: `include=activities: the deal's ${EMBEDDED_ACTIVITIES} newest timeline entries the caller may read, newest first, as GET /deals/{id}/activities`,
  })
  activities?: ActivityDto[];
}
