SELECT id, organization_id, owner_id, name, email, created_at, updated_at FROM contacts WHERE organization_id = '00000000-0000-4000-8000-000000000001' ORDER BY created_at DESC, id DESC LIMIT 20;
