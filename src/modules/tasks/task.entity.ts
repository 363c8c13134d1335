import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Relation,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';
import { Deal } from '../deals/deal.entity';
import { TenantEntity, TenantScoped } from '../../tenancy/tenant-entity';

@Entity('tasks')
// Written by hand in the migration: open tasks by due date (partial index, for overdue).
@Index('idx_tasks_org_open_due', { synchronize: false })
@Index('idx_tasks_org_due', ['organizationId', 'dueDate', 'id'])
@Index('idx_tasks_org_created', ['organizationId', 'createdAt', 'id'])
@Index('idx_tasks_deal', ['dealId'])
@TenantScoped({ owner: { via: 'deal' }, resource: 'tasks', name: 'Task' })
export class Task extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  dealId: string;

  // Deleting a deal removes its tasks (API.md section 6).
  @ManyToOne(() => Deal, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'deal_id' })
  deal?: Relation<Deal>;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  /** A calendar date (YYYY-MM-DD), no time zone. */
  @Column({ type: 'date' })
  dueDate: string;

  @Column({ type: 'boolean', default: false })
  isDone: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;

  /**
   * Incremented by every change of the row (TypeORM's saves and query-builder updates; a
   * database trigger for any other UPDATE): the record's ETag (API.md section 17).
   */
  @VersionColumn({ type: 'integer', default: 1 })
  version: number;
}
