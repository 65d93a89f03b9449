import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  ValidateNested,
} from 'class-validator';
import {
  type AddTaskContributorRequest,
  BASE_MODEL_FINGERPRINT_PATTERN,
  type ProposeTaskRequest,
  TASK_LIMITS,
  TASK_STATUSES,
  type TaskBaseModel,
  type TaskDecisionRequest,
  type TaskStatusName,
} from '@casam/protocol';
import { IsName } from '../common/is-name.validator';

export class TaskIdParams {
  @IsUUID()
  id!: string;
}

export class TaskContributorParams {
  @IsUUID()
  id!: string;

  @IsUUID()
  siteId!: string;
}

export class ListTasksQuery {
  @IsOptional()
  @IsIn(TASK_STATUSES)
  status?: TaskStatusName;
}

export class BaseModelDto implements TaskBaseModel {
  /** Checked against BASE_MODEL_PRESETS by the service, so an unknown preset gets its own error code. */
  @IsString()
  @Length(1, 50)
  preset!: string;

  @IsString()
  @Matches(BASE_MODEL_FINGERPRINT_PATTERN, {
    message: 'fingerprint must be "sha256:" and 64 lower-case hex digits',
  })
  fingerprint!: string;
}

export class ProposeTaskDto implements ProposeTaskRequest {
  @IsName(TASK_LIMITS.maxNameLength)
  name!: string;

  @IsName(TASK_LIMITS.maxModalityLength)
  modality!: string;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(TASK_LIMITS.maxTargetStructures)
  @IsName(TASK_LIMITS.maxTargetStructureLength, { each: true })
  targetStructures!: string[];

  @IsObject()
  @ValidateNested()
  @Type(() => BaseModelDto)
  baseModel!: BaseModelDto;
}

export class TaskDecisionDto implements TaskDecisionRequest {
  @IsString()
  @Length(1, TASK_LIMITS.maxReasonLength)
  @Matches(/\S/, { message: 'reason must not be blank' })
  reason!: string;
}

export class AddTaskContributorDto implements AddTaskContributorRequest {
  @IsUUID()
  siteId!: string;
}
