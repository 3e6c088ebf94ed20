"""Orgs: the tenants. Created by the platform operator; every resource belongs to one."""
