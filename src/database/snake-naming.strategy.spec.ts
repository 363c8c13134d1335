import { Table } from 'typeorm';
import { SnakeNamingStrategy } from './snake-naming.strategy';

describe('SnakeNamingStrategy', () => {
  const naming = new SnakeNamingStrategy();

  describe('tableName', () => {
    it.each([
      ['User', 'user'],
      ['OrganizationMember', 'organization_member'],
      ['RefreshToken', 'refresh_token'],
      ['HTTPLog', 'http_log'],
    ])('derives %s -> %s', (className, expected) => {
      expect(naming.tableName(className, undefined)).toBe(expected);
    });

    it('keeps an explicit name', () => {
      expect(naming.tableName('OrganizationMember', 'organization_members')).toBe(
        'organization_members',
      );
    });
  });

  describe('columnName', () => {
    it.each([
      ['id', 'id'],
      ['organizationId', 'organization_id'],
      ['createdByIp', 'created_by_ip'],
      ['passwordHash', 'password_hash'],
      ['userID', 'user_id'],
      ['addressLine1', 'address_line1'],
      ['line1Text', 'line1_text'],
      ['already_snake', 'already_snake'],
    ])('converts %s -> %s', (property, expected) => {
      expect(naming.columnName(property, undefined, [])).toBe(expected);
    });

    it('prefixes embedded columns', () => {
      expect(naming.columnName('zipCode', undefined, ['billingAddress'])).toBe(
        'billing_address_zip_code',
      );
    });

    it('uses the custom name instead of the property', () => {
      expect(naming.columnName('userAgent', 'ua', [])).toBe('ua');
      expect(naming.columnName('userAgent', 'user_agent_text', [])).toBe('user_agent_text');
    });
  });

  it('converts relation names', () => {
    expect(naming.relationName('createdBy')).toBe('created_by');
  });

  it('names join columns <relation>_<referenced column>', () => {
    expect(naming.joinColumnName('user', 'id')).toBe('user_id');
    expect(naming.joinColumnName('createdBy', 'id')).toBe('created_by_id');
    expect(naming.joinColumnName('owner', 'externalId')).toBe('owner_external_id');
  });

  it('names join tables and their columns in snake case', () => {
    expect(naming.joinTableName('contacts', 'tags', 'tags')).toBe('contacts_tags_tags');
    expect(naming.joinTableName('dealStage', 'contactTag', 'nested.tagList')).toBe(
      'deal_stage_nested_tag_list_contact_tag',
    );
    expect(naming.joinTableColumnName('contacts', 'id')).toBe('contacts_id');
    expect(naming.joinTableColumnName('dealStage', 'id', 'externalId')).toBe(
      'deal_stage_external_id',
    );
  });

  describe('constraint names', () => {
    it('names primary keys pk_<table>', () => {
      expect(naming.primaryKeyName('users')).toBe('pk_users');
    });

    it('names foreign keys fk_<table>_<columns>', () => {
      expect(naming.foreignKeyName('refresh_tokens', ['user_id'])).toBe(
        'fk_refresh_tokens_user_id',
      );
      expect(naming.foreignKeyName('deals', ['organization_id', 'contact_id'])).toBe(
        'fk_deals_organization_id_contact_id',
      );
    });

    it('names unique constraints uq_<table>_<columns>', () => {
      expect(
        naming.uniqueConstraintName('organization_members', ['organization_id', 'user_id']),
      ).toBe('uq_organization_members_organization_id_user_id');
    });

    it('names indexes idx_<table>_<columns>', () => {
      expect(naming.indexName('users', ['email'])).toBe('idx_users_email');
      expect(naming.indexName('audit_logs', ['organization_id', 'created_at'])).toBe(
        'idx_audit_logs_organization_id_created_at',
      );
    });

    it('drops the schema of a qualified table name', () => {
      expect(naming.foreignKeyName('public.refresh_tokens', ['user_id'])).toBe(
        'fk_refresh_tokens_user_id',
      );
      expect(naming.indexName('crm.users', ['email'])).toBe('idx_users_email');
      expect(naming.primaryKeyName('public.users')).toBe('pk_users');
    });

    it('accepts a Table object', () => {
      const table = new Table({ name: 'public.contacts' });
      expect(naming.indexName(table, ['email'])).toBe('idx_contacts_email');
      expect(naming.uniqueConstraintName(table, ['email'])).toBe('uq_contacts_email');
    });
  });
});
