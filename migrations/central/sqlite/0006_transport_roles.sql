-- Transport between tenants (DESIGN.md, "Transport between tenants"): dispatchers move their
-- crews' trips too (a crew without a working device calls it in), and tenant admins read what
-- their tenant's transports are.

INSERT INTO role_permissions (role, permission) VALUES
    ('ems_dispatcher', 'trip.update_status'),
    ('tenant_admin', 'trip.read');
