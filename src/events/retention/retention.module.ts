import { Global, Module } from '@nestjs/common';
import { RetentionRunner } from './retention-runner';

/**
 * The retention runner (API.md section 16), global so that every module registers its jobs
 * with it: the events module its events, the audit module the audit trail and the other
 * expiring rows.
 */
@Global()
@Module({ providers: [RetentionRunner], exports: [RetentionRunner] })
export class RetentionModule {}
