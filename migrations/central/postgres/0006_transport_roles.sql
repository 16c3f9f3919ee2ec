-- Transport between tenants (DESIGN.md, "Transport between tenants"): dispatchers move their
-- crews' trips too (a crew without a working device calls it in), and tenant admins read their
-- tenant's facilities, transport requests and units (a trip's patient data stays with the
-- dispatchers and the crew riding it).

INSERT INTO role_permissions (role, permission) VALUES
    ('ems_dispatcher', 'trip.update_status'),
    ('tenant_admin', 'trip.read');
