-- Who keeps the clinic's schedule: practitioners, their working hours and the clinic calendar
-- (DESIGN.md, "The clinic's schedule"). Tenant admins and the front desk do; the tenant admin
-- also reads the schedule it manages.

INSERT INTO permissions (name, description) VALUES
    ('schedule.manage', 'Manage practitioners, their working hours and the clinic calendar');

INSERT INTO role_permissions (role, permission) VALUES
    ('tenant_admin', 'schedule.manage'),
    ('tenant_admin', 'appointment.read'),
    ('front_desk', 'schedule.manage');
