--
-- PostgreSQL database dump
--

\restrict WXnMfla2JRiwSo2wg9t2bhVCT5x5n9LiRf0HmT7At0XF7NAzbbMRE2tzuzmTZQy

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: UPGRADE_SCHEMA; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA UPGRADE_SCHEMA;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: accounts; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.accounts (
    id text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL,
    plan text NOT NULL,
    timezone text NOT NULL,
    status text NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: api_keys; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.api_keys (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    hash bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone
);


--
-- Name: entries; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.entries (
    id bigint NOT NULL,
    txn_id text NOT NULL COLLATE pg_catalog."C",
    kind text NOT NULL,
    account_id text NOT NULL COLLATE pg_catalog."C",
    book text NOT NULL COLLATE pg_catalog."C",
    grant_id text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    hold_id text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    amount bigint NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: entries_id_seq; Type: SEQUENCE; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE UPGRADE_SCHEMA.entries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME UPGRADE_SCHEMA.entries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: grants; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.grants (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    source text NOT NULL,
    amount bigint NOT NULL,
    remaining bigint NOT NULL,
    products text DEFAULT ''::text NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone,
    expired_at timestamp with time zone,
    external_ref text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT grants_amount_check CHECK ((amount > 0)),
    CONSTRAINT grants_check CHECK (((remaining >= 0) AND (remaining <= amount)))
);


--
-- Name: holds; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.holds (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    product text NOT NULL,
    amount bigint NOT NULL,
    captured bigint DEFAULT 0 NOT NULL,
    status text NOT NULL,
    allocations text NOT NULL,
    metadata text DEFAULT ''::text NOT NULL,
    quote_id text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    settled_at timestamp with time zone,
    CONSTRAINT holds_amount_check CHECK ((amount > 0)),
    CONSTRAINT holds_check CHECK (((captured >= 0) AND (captured <= amount)))
);


--
-- Name: idempotency; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.idempotency (
    scope text NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    status integer NOT NULL,
    body bytea NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: plan_versions; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.plan_versions (
    plan text NOT NULL COLLATE pg_catalog."C",
    version integer NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    allowances text NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.schema_migrations (
    version text NOT NULL,
    applied_at timestamp with time zone NOT NULL
);


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.accounts (id, name, plan, timezone, status, created_at) FROM stdin;
acme	Acme	free	UTC	active	2026-12-07 00:53:18.762724+00
\.


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.api_keys (id, account_id, hash, created_at, revoked_at) FROM stdin;
key_4kfxmw0g000et32eyz69bg		\\x5f08ee198d7e3d64d336d3f215e0ed63c05dca84604804c7ab0dcd0fa444ed13	2026-12-07 00:53:18.720258+00	\N
\.


--
-- Data for Name: entries; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.entries (id, txn_id, kind, account_id, book, grant_id, hold_id, amount, created_at) FROM stdin;
1	txn_4kfxmwz00000qhw2kgpaj9	grant	acme	issuance	grant_4kfxmwz0000rqg3zdd3nce		-100000000	2026-12-07 00:53:18.780779+00
2	txn_4kfxmwz00000qhw2kgpaj9	grant	acme	available	grant_4kfxmwz0000rqg3zdd3nce		100000000	2026-12-07 00:53:18.780779+00
3	txn_4kfxmxc0000cxbec5hbt74	grant	acme	issuance	grant_4kfxmxc0000ba3dbyp42n6		-30000000	2026-12-07 00:53:18.807689+00
4	txn_4kfxmxc0000cxbec5hbt74	grant	acme	available	grant_4kfxmxc0000ba3dbyp42n6		30000000	2026-12-07 00:53:18.807689+00
5	txn_4kfxmxc0001pmveze2bfj4	hold	acme	available	grant_4kfxmxc0000ba3dbyp42n6	hold_4kfxmxc0001e5dfq5fzbyy	-12500000	2026-12-07 00:53:18.807689+00
6	txn_4kfxmxc0001pmveze2bfj4	hold	acme	held	grant_4kfxmxc0000ba3dbyp42n6	hold_4kfxmxc0001e5dfq5fzbyy	12500000	2026-12-07 00:53:18.807689+00
7	txn_4kfxmxr0000a7986rf5ma2	capture	acme	held	grant_4kfxmxc0000ba3dbyp42n6	hold_4kfxmxc0001e5dfq5fzbyy	-12500000	2026-12-07 00:53:18.831141+00
8	txn_4kfxmxr0000a7986rf5ma2	capture	acme	revenue:video	grant_4kfxmxc0000ba3dbyp42n6	hold_4kfxmxc0001e5dfq5fzbyy	10000000	2026-12-07 00:53:18.831141+00
9	txn_4kfxmxr0000a7986rf5ma2	capture	acme	available	grant_4kfxmxc0000ba3dbyp42n6	hold_4kfxmxc0001e5dfq5fzbyy	2500000	2026-12-07 00:53:18.831141+00
10	txn_4kfxmy30000gr54wrmshjr	hold	acme	available	grant_4kfxmxc0000ba3dbyp42n6	hold_4kfxmy300005s8gq2h71r3	-3000000	2026-12-07 00:53:18.854036+00
11	txn_4kfxmy30000gr54wrmshjr	hold	acme	held	grant_4kfxmxc0000ba3dbyp42n6	hold_4kfxmy300005s8gq2h71r3	3000000	2026-12-07 00:53:18.854036+00
\.


--
-- Data for Name: grants; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.grants (id, account_id, source, amount, remaining, products, priority, effective_at, expires_at, expired_at, external_ref, created_at) FROM stdin;
grant_4kfxmwz0000rqg3zdd3nce	acme	promo	100000000	100000000		0	2026-12-07 00:53:18.780779+00	\N	\N		2026-12-07 00:53:18.780779+00
grant_4kfxmxc0000ba3dbyp42n6	acme	allowance	30000000	17000000	video	0	2026-12-07 00:00:00+00	2026-12-08 00:00:00+00	\N	allowance:video:2026-12-07	2026-12-07 00:53:18.807689+00
\.


--
-- Data for Name: holds; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.holds (id, account_id, product, amount, captured, status, allocations, metadata, quote_id, created_at, expires_at, settled_at) FROM stdin;
hold_4kfxmxc0001e5dfq5fzbyy	acme	video	12500000	10000000	captured	grant_4kfxmxc0000ba3dbyp42n6:12500000			2026-12-07 00:53:18.807689+00	2026-12-07 01:53:18.807689+00	2026-12-07 00:53:18.831141+00
hold_4kfxmy300005s8gq2h71r3	acme	video	3000000	0	pending	grant_4kfxmxc0000ba3dbyp42n6:3000000			2026-12-07 00:53:18.854036+00	2026-12-14 00:53:18.854036+00	\N
\.


--
-- Data for Name: idempotency; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.idempotency (scope, key, request_hash, status, body, created_at) FROM stdin;
\.


--
-- Data for Name: plan_versions; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.plan_versions (plan, version, effective_at, allowances, created_at) FROM stdin;
free	1	1970-01-01 00:00:00+00	{"video":"30"}	2026-12-07 00:53:18.720258+00
pro	1	1970-01-01 00:00:00+00	{"video":"100"}	2026-12-07 00:53:18.720258+00
\.


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.schema_migrations (version, applied_at) FROM stdin;
0001_ledger	2026-12-07 00:53:18.717364+00
\.


--
-- Name: entries_id_seq; Type: SEQUENCE SET; Schema: UPGRADE_SCHEMA; Owner: -
--

SELECT pg_catalog.setval('UPGRADE_SCHEMA.entries_id_seq', 11, true);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: api_keys api_keys_hash_key; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.api_keys
    ADD CONSTRAINT api_keys_hash_key UNIQUE (hash);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: entries entries_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.entries
    ADD CONSTRAINT entries_pkey PRIMARY KEY (id);


--
-- Name: grants grants_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.grants
    ADD CONSTRAINT grants_pkey PRIMARY KEY (id);


--
-- Name: holds holds_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.holds
    ADD CONSTRAINT holds_pkey PRIMARY KEY (id);


--
-- Name: idempotency idempotency_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.idempotency
    ADD CONSTRAINT idempotency_pkey PRIMARY KEY (scope, key);


--
-- Name: plan_versions plan_versions_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.plan_versions
    ADD CONSTRAINT plan_versions_pkey PRIMARY KEY (plan, version);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: entries_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX entries_account ON UPGRADE_SCHEMA.entries USING btree (account_id, id);


--
-- Name: grants_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX grants_account ON UPGRADE_SCHEMA.grants USING btree (account_id);


--
-- Name: grants_due; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX grants_due ON UPGRADE_SCHEMA.grants USING btree (expires_at) WHERE ((expired_at IS NULL) AND (expires_at IS NOT NULL));


--
-- Name: grants_external_ref; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE UNIQUE INDEX grants_external_ref ON UPGRADE_SCHEMA.grants USING btree (account_id, external_ref) WHERE (external_ref <> ''::text);


--
-- Name: holds_pending; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX holds_pending ON UPGRADE_SCHEMA.holds USING btree (account_id, expires_at) WHERE (status = 'pending'::text);


--
-- Name: idempotency_created; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX idempotency_created ON UPGRADE_SCHEMA.idempotency USING btree (created_at);


--
-- PostgreSQL database dump complete
--

\unrestrict WXnMfla2JRiwSo2wg9t2bhVCT5x5n9LiRf0HmT7At0XF7NAzbbMRE2tzuzmTZQy

