-- One database per service: no service can read another's tables.
CREATE DATABASE contacts;
CREATE DATABASE consent;
CREATE DATABASE campaigns;
