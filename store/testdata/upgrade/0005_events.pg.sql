--
-- PostgreSQL database dump
--

\restrict hghwRwwzry6AaTxbJuSThw7t8Zz6pEkMpB4FSXrOIEqkG9SdAXHA7hTApPCGmNf

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
-- Name: deliveries; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.deliveries (
    event_id text NOT NULL,
    endpoint_id text NOT NULL,
    status text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_at timestamp with time zone NOT NULL,
    last_error text DEFAULT ''::text NOT NULL,
    updated_at timestamp with time zone NOT NULL
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
-- Name: events; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.events (
    id text NOT NULL COLLATE pg_catalog."C",
    type text NOT NULL,
    account_id text DEFAULT ''::text NOT NULL,
    payload bytea NOT NULL,
    created_at timestamp with time zone NOT NULL
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
-- Name: orders; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.orders (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    pack_id text NOT NULL,
    credits bigint NOT NULL,
    price_amount bigint NOT NULL,
    currency text NOT NULL,
    valid_for_days integer NOT NULL,
    products text DEFAULT ''::text NOT NULL,
    status text NOT NULL,
    provider text NOT NULL,
    provider_ref text DEFAULT ''::text NOT NULL,
    refunded_credits bigint DEFAULT 0 NOT NULL,
    grant_id text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    completed_at timestamp with time zone,
    refunded_at timestamp with time zone,
    CONSTRAINT orders_credits_check CHECK ((credits > 0))
);


--
-- Name: packs; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.packs (
    id text NOT NULL COLLATE pg_catalog."C",
    credits bigint NOT NULL,
    price_amount bigint NOT NULL,
    currency text NOT NULL,
    valid_for_days integer NOT NULL,
    products text DEFAULT ''::text NOT NULL,
    active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT packs_credits_check CHECK ((credits > 0)),
    CONSTRAINT packs_price_amount_check CHECK ((price_amount > 0)),
    CONSTRAINT packs_valid_for_days_check CHECK ((valid_for_days > 0))
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
-- Name: price_rules; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.price_rules (
    id text NOT NULL COLLATE pg_catalog."C",
    product text NOT NULL,
    meter text NOT NULL,
    tier text DEFAULT ''::text NOT NULL,
    resolution text DEFAULT ''::text NOT NULL,
    per bigint NOT NULL,
    credits bigint NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT price_rules_credits_check CHECK ((credits >= 0)),
    CONSTRAINT price_rules_per_check CHECK ((per > 0))
);


--
-- Name: quotes; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.quotes (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    product text NOT NULL,
    credits bigint NOT NULL,
    details bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT quotes_credits_check CHECK ((credits > 0))
);


--
-- Name: schema_migrations; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.schema_migrations (
    version text NOT NULL,
    applied_at timestamp with time zone NOT NULL
);


--
-- Name: settings; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.settings (
    key text NOT NULL,
    value text NOT NULL
);


--
-- Name: webhook_endpoints; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.webhook_endpoints (
    id text NOT NULL COLLATE pg_catalog."C",
    url text NOT NULL,
    secret text NOT NULL,
    types text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.accounts (id, name, plan, timezone, status, created_at) FROM stdin;
acme	Acme	free	UTC	active	2026-12-07 00:54:15.104164+00
\.


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.api_keys (id, account_id, hash, created_at, revoked_at) FROM stdin;
key_4kfygahg000xah7s529jky		\\xb3149fc440ce9ba9f8ccd383ea4ed9e5f8ba3cab77cb41934714f26e7240cf3d	2026-12-07 00:54:14.94602+00	\N
\.


--
-- Data for Name: deliveries; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.deliveries (event_id, endpoint_id, status, attempts, next_at, last_error, updated_at) FROM stdin;
\.


--
-- Data for Name: entries; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.entries (id, txn_id, kind, account_id, book, grant_id, hold_id, amount, created_at) FROM stdin;
1	txn_4kfygd70000mhn2vt93xeb	grant	acme	issuance	grant_4kfygd700007sqrxd0fm02		-100000000	2026-12-07 00:54:15.116919+00
2	txn_4kfygd70000mhn2vt93xeb	grant	acme	available	grant_4kfygd700007sqrxd0fm02		100000000	2026-12-07 00:54:15.116919+00
3	txn_4kfygdwg00012j5rr8px5v	grant	acme	issuance	grant_4kfygdwg0003wq2vxs3ph6		-30000000	2026-12-07 00:54:15.157611+00
4	txn_4kfygdwg00012j5rr8px5v	grant	acme	available	grant_4kfygdwg0003wq2vxs3ph6		30000000	2026-12-07 00:54:15.157611+00
5	txn_4kfygdwg001ah5p1vj6gew	hold	acme	available	grant_4kfygdwg0003wq2vxs3ph6	hold_4kfygdwg001vfbg29g5e2r	-12500000	2026-12-07 00:54:15.157611+00
6	txn_4kfygdwg001ah5p1vj6gew	hold	acme	held	grant_4kfygdwg0003wq2vxs3ph6	hold_4kfygdwg001vfbg29g5e2r	12500000	2026-12-07 00:54:15.157611+00
7	txn_4kfyge7g000qshsdqxyqfy	capture	acme	held	grant_4kfygdwg0003wq2vxs3ph6	hold_4kfygdwg001vfbg29g5e2r	-12500000	2026-12-07 00:54:15.180993+00
8	txn_4kfyge7g000qshsdqxyqfy	capture	acme	revenue:video	grant_4kfygdwg0003wq2vxs3ph6	hold_4kfygdwg001vfbg29g5e2r	10000000	2026-12-07 00:54:15.180993+00
9	txn_4kfyge7g000qshsdqxyqfy	capture	acme	available	grant_4kfygdwg0003wq2vxs3ph6	hold_4kfygdwg001vfbg29g5e2r	2500000	2026-12-07 00:54:15.180993+00
10	txn_4kfygeng0007nrwh400xv6	hold	acme	available	grant_4kfygdwg0003wq2vxs3ph6	hold_4kfygeng000cy4b7z69bfk	-3000000	2026-12-07 00:54:15.210326+00
11	txn_4kfygeng0007nrwh400xv6	hold	acme	held	grant_4kfygdwg0003wq2vxs3ph6	hold_4kfygeng000cy4b7z69bfk	3000000	2026-12-07 00:54:15.210326+00
\.


--
-- Data for Name: events; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.events (id, type, account_id, payload, created_at) FROM stdin;
\.


--
-- Data for Name: grants; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.grants (id, account_id, source, amount, remaining, products, priority, effective_at, expires_at, expired_at, external_ref, created_at) FROM stdin;
grant_4kfygd700007sqrxd0fm02	acme	promo	100000000	100000000		0	2026-12-07 00:54:15.116919+00	\N	\N		2026-12-07 00:54:15.116919+00
grant_4kfygdwg0003wq2vxs3ph6	acme	allowance	30000000	17000000	video	0	2026-12-07 00:00:00+00	2026-12-08 00:00:00+00	\N	allowance:video:2026-12-07	2026-12-07 00:54:15.157611+00
\.


--
-- Data for Name: holds; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.holds (id, account_id, product, amount, captured, status, allocations, metadata, quote_id, created_at, expires_at, settled_at) FROM stdin;
hold_4kfygdwg001vfbg29g5e2r	acme	video	12500000	10000000	captured	grant_4kfygdwg0003wq2vxs3ph6:12500000			2026-12-07 00:54:15.157611+00	2026-12-07 01:54:15.157611+00	2026-12-07 00:54:15.180993+00
hold_4kfygeng000cy4b7z69bfk	acme	video	3000000	0	pending	grant_4kfygdwg0003wq2vxs3ph6:3000000			2026-12-07 00:54:15.210326+00	2026-12-14 00:54:15.210326+00	\N
\.


--
-- Data for Name: idempotency; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.idempotency (scope, key, request_hash, status, body, created_at) FROM stdin;
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.orders (id, account_id, pack_id, credits, price_amount, currency, valid_for_days, products, status, provider, provider_ref, refunded_credits, grant_id, created_at, completed_at, refunded_at) FROM stdin;
\.


--
-- Data for Name: packs; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.packs (id, credits, price_amount, currency, valid_for_days, products, active, created_at) FROM stdin;
pack_10	10000000	400	usd	365		t	1970-01-01 00:00:00+00
\.


--
-- Data for Name: plan_versions; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.plan_versions (plan, version, effective_at, allowances, created_at) FROM stdin;
free	1	1970-01-01 00:00:00+00	{"video":"30"}	2026-12-07 00:54:14.94602+00
pro	1	1970-01-01 00:00:00+00	{"video":"100"}	2026-12-07 00:54:14.94602+00
\.


--
-- Data for Name: price_rules; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.price_rules (id, product, meter, tier, resolution, per, credits, effective_at, created_at) FROM stdin;
\.


--
-- Data for Name: quotes; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.quotes (id, account_id, product, credits, details, created_at, expires_at) FROM stdin;
\.


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.schema_migrations (version, applied_at) FROM stdin;
0001_ledger	2026-12-07 00:54:14.90466+00
0002_quotes	2026-12-07 00:54:14.908635+00
0003_purchases	2026-12-07 00:54:14.918677+00
0004_price_rules	2026-12-07 00:54:14.926066+00
0005_events	2026-12-07 00:54:14.945157+00
\.


--
-- Data for Name: settings; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.settings (key, value) FROM stdin;
packs_seeded_once	yes
link_secret	0dd7ddb35a3aab4a95ae5e52014e077acd7c06f4e8edf3fbb436048df955e1e5
\.


--
-- Data for Name: webhook_endpoints; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.webhook_endpoints (id, url, secret, types, created_at) FROM stdin;
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
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (event_id, endpoint_id);


--
-- Name: entries entries_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.entries
    ADD CONSTRAINT entries_pkey PRIMARY KEY (id);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


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
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: packs packs_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.packs
    ADD CONSTRAINT packs_pkey PRIMARY KEY (id);


--
-- Name: plan_versions plan_versions_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.plan_versions
    ADD CONSTRAINT plan_versions_pkey PRIMARY KEY (plan, version);


--
-- Name: price_rules price_rules_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.price_rules
    ADD CONSTRAINT price_rules_pkey PRIMARY KEY (id, effective_at);


--
-- Name: quotes quotes_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.quotes
    ADD CONSTRAINT quotes_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);


--
-- Name: webhook_endpoints webhook_endpoints_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);


--
-- Name: deliveries_due; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX deliveries_due ON UPGRADE_SCHEMA.deliveries USING btree (next_at) WHERE (status = 'pending'::text);


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
-- Name: holds_quote; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE UNIQUE INDEX holds_quote ON UPGRADE_SCHEMA.holds USING btree (quote_id) WHERE (quote_id <> ''::text);


--
-- Name: idempotency_created; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX idempotency_created ON UPGRADE_SCHEMA.idempotency USING btree (created_at);


--
-- Name: orders_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX orders_account ON UPGRADE_SCHEMA.orders USING btree (account_id);


--
-- Name: orders_provider_ref; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE UNIQUE INDEX orders_provider_ref ON UPGRADE_SCHEMA.orders USING btree (provider, provider_ref) WHERE (provider_ref <> ''::text);


--
-- PostgreSQL database dump complete
--

\unrestrict hghwRwwzry6AaTxbJuSThw7t8Zz6pEkMpB4FSXrOIEqkG9SdAXHA7hTApPCGmNf

