--
-- PostgreSQL database dump
--

\restrict Ga5zG40v7FWnywYnGqjngCMdsbPixqmBO8bTTaFq1tHJplMP6IptDsogOPMnmrG

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


--
-- Name: audit_log_append_only(); Type: FUNCTION; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE FUNCTION UPGRADE_SCHEMA.audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;


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
    created_at timestamp with time zone NOT NULL,
    low_balance bigint DEFAULT 0 NOT NULL,
    pending_holds integer DEFAULT 0 NOT NULL,
    timezone_from timestamp with time zone,
    plan_before text DEFAULT ''::text NOT NULL,
    plan_from timestamp with time zone,
    currency text DEFAULT ''::text NOT NULL
);


--
-- Name: api_keys; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.api_keys (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    hash bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    name text DEFAULT ''::text NOT NULL,
    prefix text DEFAULT ''::text NOT NULL,
    last_used_at timestamp with time zone,
    scopes text DEFAULT ''::text NOT NULL,
    products text DEFAULT ''::text NOT NULL,
    expires_at timestamp with time zone,
    limits text DEFAULT ''::text NOT NULL
);


--
-- Name: audit_log; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.audit_log (
    id text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone NOT NULL,
    actor_key text NOT NULL COLLATE pg_catalog."C",
    actor_kind text NOT NULL,
    account_id text NOT NULL COLLATE pg_catalog."C",
    action text NOT NULL COLLATE pg_catalog."C",
    target text NOT NULL,
    request_id text NOT NULL,
    detail text NOT NULL
);


--
-- Name: batches; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.batches (
    id bigint NOT NULL
);


--
-- Name: cameo_approvals; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.cameo_approvals (
    cameo_id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone NOT NULL
);


--
-- Name: cameo_uses; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.cameo_uses (
    cameo_id text NOT NULL COLLATE pg_catalog."C",
    day text NOT NULL COLLATE pg_catalog."C",
    uses bigint NOT NULL
);


--
-- Name: characters; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.characters (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone NOT NULL,
    doc text NOT NULL,
    handle text COLLATE pg_catalog."C"
);


--
-- Name: counters; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.counters (
    board text NOT NULL COLLATE pg_catalog."C",
    subject text NOT NULL COLLATE pg_catalog."C",
    bucket bigint NOT NULL,
    owner_id text NOT NULL COLLATE pg_catalog."C",
    uses bigint NOT NULL,
    gross bigint NOT NULL,
    take bigint NOT NULL,
    net bigint NOT NULL
);


--
-- Name: counters_daily; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.counters_daily (
    board text NOT NULL COLLATE pg_catalog."C",
    subject text NOT NULL COLLATE pg_catalog."C",
    bucket bigint NOT NULL,
    owner_id text NOT NULL COLLATE pg_catalog."C",
    uses bigint NOT NULL,
    gross bigint NOT NULL,
    take bigint NOT NULL,
    net bigint NOT NULL
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
-- Name: earnings; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.earnings (
    id text NOT NULL COLLATE pg_catalog."C",
    owner_id text NOT NULL COLLATE pg_catalog."C",
    payer_id text NOT NULL COLLATE pg_catalog."C",
    kind text NOT NULL,
    subject text NOT NULL COLLATE pg_catalog."C",
    video_id text NOT NULL COLLATE pg_catalog."C",
    gross bigint NOT NULL,
    take bigint NOT NULL,
    net bigint NOT NULL,
    created_at timestamp with time zone NOT NULL
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
    refund_owed bigint DEFAULT 0 NOT NULL,
    frozen boolean DEFAULT false NOT NULL,
    held bigint DEFAULT 0 NOT NULL,
    CONSTRAINT grants_amount_check CHECK ((amount > 0)),
    CONSTRAINT grants_check CHECK (((remaining >= 0) AND (remaining <= amount))),
    CONSTRAINT grants_held_check CHECK ((held >= 0)),
    CONSTRAINT grants_refund_owed_check CHECK ((refund_owed >= 0))
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
    key_id text DEFAULT ''::text NOT NULL,
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
-- Name: leaderboard_optins; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.leaderboard_optins (
    account_id text NOT NULL COLLATE pg_catalog."C",
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
    payment_ref text DEFAULT ''::text NOT NULL,
    payment_problem text DEFAULT ''::text NOT NULL,
    dispute_id text DEFAULT ''::text NOT NULL,
    dispute_status text DEFAULT ''::text NOT NULL,
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
    prices text DEFAULT ''::text NOT NULL,
    CONSTRAINT packs_credits_check CHECK ((credits > 0)),
    CONSTRAINT packs_price_amount_check CHECK ((price_amount > 0)),
    CONSTRAINT packs_valid_for_days_check CHECK ((valid_for_days > 0))
);


--
-- Name: payment_events; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.payment_events (
    id text NOT NULL COLLATE pg_catalog."C",
    provider text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    object_id text NOT NULL,
    order_id text NOT NULL,
    matched boolean NOT NULL,
    outcome text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    received_at timestamp with time zone NOT NULL
);


--
-- Name: payout_destinations; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.payout_destinations (
    account_id text NOT NULL COLLATE pg_catalog."C",
    stripe_account text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone NOT NULL
);


--
-- Name: payout_rates; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.payout_rates (
    currency text NOT NULL COLLATE pg_catalog."C",
    version bigint NOT NULL,
    minor_per_credit bigint NOT NULL,
    minimum bigint NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: payouts; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.payouts (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone NOT NULL,
    doc text NOT NULL
);


--
-- Name: plan_versions; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.plan_versions (
    plan text NOT NULL COLLATE pg_catalog."C",
    version integer NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    allowances text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    limits text DEFAULT ''::text NOT NULL
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
-- Name: published_videos; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.published_videos (
    video_id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    remix_fee bigint NOT NULL,
    remixable boolean NOT NULL,
    published_at timestamp with time zone NOT NULL
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
    applied_at timestamp with time zone NOT NULL,
    compat text DEFAULT 'contract'::text NOT NULL
);


--
-- Name: settings; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.settings (
    key text NOT NULL,
    value text NOT NULL
);


--
-- Name: videos; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.videos (
    id text NOT NULL COLLATE pg_catalog."C",
    account_id text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL,
    next_at timestamp with time zone,
    deleted_at timestamp with time zone,
    version bigint NOT NULL,
    doc text NOT NULL,
    ended_at timestamp with time zone
);


--
-- Name: webhook_endpoints; Type: TABLE; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TABLE UPGRADE_SCHEMA.webhook_endpoints (
    id text NOT NULL COLLATE pg_catalog."C",
    url text NOT NULL,
    secret text NOT NULL,
    types text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    old_secret text DEFAULT ''::text NOT NULL,
    old_secret_until timestamp with time zone,
    account_id text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C"
);


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.accounts (id, name, plan, timezone, status, created_at, low_balance, pending_holds, timezone_from, plan_before, plan_from, currency) FROM stdin;
acme	Acme	free	UTC	active	2026-12-07 23:10:40.650992+00	0	1	\N		\N	
\.


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.api_keys (id, account_id, hash, created_at, revoked_at, name, prefix, last_used_at, scopes, products, expires_at, limits) FROM stdin;
key_b8jjrr5xc0007x079a84td		\\xc02325494577fa10ef8ff16e5eccb7e76e1abcac43a0f7287238287a10385fb4	2026-12-07 23:10:40.597522+00	\N			2026-12-07 23:10:40.650582+00			\N	
\.


--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.audit_log (id, created_at, actor_key, actor_kind, account_id, action, target, request_id, detail) FROM stdin;
aud_b8jjrr60p0005hx5gzat16	2026-12-07 23:10:40.651634+00	key_b8jjrr5xc0007x079a84td	admin	acme	account.create	acme	req_b8jjrr60m00013bzrs491z	{"low_balance_threshold":"0","name":"Acme","plan":"free","timezone":"UTC"}
aud_b8jjrr610000etyaxq0qw5	2026-12-07 23:10:40.656328+00	key_b8jjrr5xc0007x079a84td	admin	acme	grant.create	grant_b8jjrr610000gcnw98k3kc	req_b8jjrr6100007hteanqq9x	{"credits":"100","expires_at":null,"external_ref":"","priority":0,"products":null,"source":"promo"}
\.


--
-- Data for Name: batches; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.batches (id) FROM stdin;
459951370408139217
459951370409573007
459951370410985527
459951370412101821
\.


--
-- Data for Name: cameo_approvals; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.cameo_approvals (cameo_id, account_id, created_at) FROM stdin;
\.


--
-- Data for Name: cameo_uses; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.cameo_uses (cameo_id, day, uses) FROM stdin;
\.


--
-- Data for Name: characters; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.characters (id, account_id, created_at, doc, handle) FROM stdin;
\.


--
-- Data for Name: counters; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.counters (board, subject, bucket, owner_id, uses, gross, take, net) FROM stdin;
\.


--
-- Data for Name: counters_daily; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.counters_daily (board, subject, bucket, owner_id, uses, gross, take, net) FROM stdin;
\.


--
-- Data for Name: deliveries; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.deliveries (event_id, endpoint_id, status, attempts, next_at, last_error, updated_at) FROM stdin;
\.


--
-- Data for Name: earnings; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.earnings (id, owner_id, payer_id, kind, subject, video_id, gross, take, net, created_at) FROM stdin;
\.


--
-- Data for Name: entries; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.entries (id, txn_id, kind, account_id, book, grant_id, hold_id, amount, created_at) FROM stdin;
1	txn_b8jjrr610000w6wk9x2hxm	grant	acme	issuance	grant_b8jjrr610000gcnw98k3kc		-100000000	2026-12-07 23:10:40.656328+00
2	txn_b8jjrr610000w6wk9x2hxm	grant	acme	available	grant_b8jjrr610000gcnw98k3kc		100000000	2026-12-07 23:10:40.656328+00
3	txn_b8jjrr61c000d7vh5j68pg	grant	acme	issuance	grant_b8jjrr61c0005hrqbxrcyp		-30000000	2026-12-07 23:10:40.661873+00
4	txn_b8jjrr61c000d7vh5j68pg	grant	acme	available	grant_b8jjrr61c0005hrqbxrcyp		30000000	2026-12-07 23:10:40.661873+00
5	txn_b8jjrr61c000wh3b0dv5j6	hold	acme	available	grant_b8jjrr61c0005hrqbxrcyp	hold_b8jjrr61c000pqv9dq97vh	-12500000	2026-12-07 23:10:40.661873+00
6	txn_b8jjrr61c000wh3b0dv5j6	hold	acme	held	grant_b8jjrr61c0005hrqbxrcyp	hold_b8jjrr61c000pqv9dq97vh	12500000	2026-12-07 23:10:40.661873+00
7	txn_b8jjrr61p000bvvm7p4gft	capture	acme	held	grant_b8jjrr61c0005hrqbxrcyp	hold_b8jjrr61c000pqv9dq97vh	-12500000	2026-12-07 23:10:40.667543+00
8	txn_b8jjrr61p000bvvm7p4gft	capture	acme	revenue:video	grant_b8jjrr61c0005hrqbxrcyp	hold_b8jjrr61c000pqv9dq97vh	10000000	2026-12-07 23:10:40.667543+00
9	txn_b8jjrr61p000bvvm7p4gft	capture	acme	available	grant_b8jjrr61c0005hrqbxrcyp	hold_b8jjrr61c000pqv9dq97vh	2500000	2026-12-07 23:10:40.667543+00
10	txn_b8jjrr6200008y2n6bypy3	hold	acme	available	grant_b8jjrr61c0005hrqbxrcyp	hold_b8jjrr6200000zvntcwsfd	-3000000	2026-12-07 23:10:40.671998+00
11	txn_b8jjrr6200008y2n6bypy3	hold	acme	held	grant_b8jjrr61c0005hrqbxrcyp	hold_b8jjrr6200000zvntcwsfd	3000000	2026-12-07 23:10:40.671998+00
\.


--
-- Data for Name: events; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.events (id, type, account_id, payload, created_at) FROM stdin;
\.


--
-- Data for Name: grants; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.grants (id, account_id, source, amount, remaining, products, priority, effective_at, expires_at, expired_at, external_ref, created_at, refund_owed, frozen, held) FROM stdin;
grant_b8jjrr610000gcnw98k3kc	acme	promo	100000000	100000000		0	2026-12-07 23:10:40.656328+00	\N	\N		2026-12-07 23:10:40.656328+00	0	f	0
grant_b8jjrr61c0005hrqbxrcyp	acme	allowance	30000000	17000000	video	0	2026-12-07 00:00:00+00	2026-12-08 00:00:00+00	\N	allowance:video:2026-12-07	2026-12-07 23:10:40.661873+00	0	f	3000000
\.


--
-- Data for Name: holds; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.holds (id, account_id, product, amount, captured, status, allocations, metadata, quote_id, created_at, expires_at, settled_at, key_id) FROM stdin;
hold_b8jjrr61c000pqv9dq97vh	acme	video	12500000	10000000	captured	grant_b8jjrr61c0005hrqbxrcyp:12500000			2026-12-07 23:10:40.661873+00	2026-12-08 00:10:40.661873+00	2026-12-07 23:10:40.667543+00	
hold_b8jjrr6200000zvntcwsfd	acme	video	3000000	0	pending	grant_b8jjrr61c0005hrqbxrcyp:3000000			2026-12-07 23:10:40.671998+00	2026-12-14 23:10:40.671998+00	\N	
\.


--
-- Data for Name: idempotency; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.idempotency (scope, key, request_hash, status, body, created_at) FROM stdin;
\.


--
-- Data for Name: leaderboard_optins; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.leaderboard_optins (account_id, created_at) FROM stdin;
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.orders (id, account_id, pack_id, credits, price_amount, currency, valid_for_days, products, status, provider, provider_ref, refunded_credits, grant_id, created_at, completed_at, refunded_at, payment_ref, payment_problem, dispute_id, dispute_status) FROM stdin;
\.


--
-- Data for Name: packs; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.packs (id, credits, price_amount, currency, valid_for_days, products, active, created_at, prices) FROM stdin;
pack_10	10000000	400	usd	365		t	1970-01-01 00:00:00+00	
\.


--
-- Data for Name: payment_events; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.payment_events (id, provider, event_id, type, object_id, order_id, matched, outcome, created_at, received_at) FROM stdin;
\.


--
-- Data for Name: payout_destinations; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.payout_destinations (account_id, stripe_account, created_at) FROM stdin;
\.


--
-- Data for Name: payout_rates; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.payout_rates (currency, version, minor_per_credit, minimum, effective_at, created_at) FROM stdin;
\.


--
-- Data for Name: payouts; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.payouts (id, account_id, status, created_at, doc) FROM stdin;
\.


--
-- Data for Name: plan_versions; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.plan_versions (plan, version, effective_at, allowances, created_at, limits) FROM stdin;
free	1	1970-01-01 00:00:00+00	{"video":"30"}	2026-12-07 23:10:40.597522+00	
pro	1	1970-01-01 00:00:00+00	{"video":"100"}	2026-12-07 23:10:40.597522+00	
\.


--
-- Data for Name: price_rules; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.price_rules (id, product, meter, tier, resolution, per, credits, effective_at, created_at) FROM stdin;
\.


--
-- Data for Name: published_videos; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.published_videos (video_id, account_id, remix_fee, remixable, published_at) FROM stdin;
\.


--
-- Data for Name: quotes; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.quotes (id, account_id, product, credits, details, created_at, expires_at) FROM stdin;
\.


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.schema_migrations (version, applied_at, compat) FROM stdin;
0001_ledger	2026-12-07 23:10:40.562321+00	contract
0002_quotes	2026-12-07 23:10:40.564161+00	contract
0003_purchases	2026-12-07 23:10:40.567176+00	contract
0004_price_rules	2026-12-07 23:10:40.568485+00	contract
0005_events	2026-12-07 23:10:40.570928+00	contract
0006_low_balance	2026-12-07 23:10:40.571685+00	contract
0007_batches	2026-12-07 23:10:40.572673+00	contract
0008_events_account	2026-12-07 23:10:40.573359+00	contract
0009_key_names	2026-12-07 23:10:40.574279+00	contract
0010_endpoint_management	2026-12-07 23:10:40.574988+00	contract
0011_order_payment	2026-12-07 23:10:40.575947+00	contract
0012_key_limits	2026-12-07 23:10:40.577352+00	contract
0013_audit	2026-12-07 23:10:40.579402+00	contract
0014_disputes	2026-12-07 23:10:40.580572+00	contract
0015_payment_events	2026-12-07 23:10:40.581996+00	contract
0016_repair_released_schemas	2026-12-07 23:10:40.58386+00	expand
0017_videos	2026-12-07 23:10:40.58568+00	contract
0018_grant_held	2026-12-07 23:10:40.586781+00	contract
0019_characters	2026-12-07 23:10:40.588029+00	expand
0020_video_ended	2026-12-07 23:10:40.588903+00	expand
0021_cameos	2026-12-07 23:10:40.595965+00	expand
0022_pack_prices	2026-12-07 23:10:40.596915+00	expand
\.


--
-- Data for Name: settings; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.settings (key, value) FROM stdin;
packs_seeded	d17a18885c892212
link_secret	95af50ea21d9433d9d6f1dd6261c5d5c9bfe14d05b396e025ddd67933ce3a624
\.


--
-- Data for Name: videos; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.videos (id, account_id, status, next_at, deleted_at, version, doc, ended_at) FROM stdin;
\.


--
-- Data for Name: webhook_endpoints; Type: TABLE DATA; Schema: UPGRADE_SCHEMA; Owner: -
--

COPY UPGRADE_SCHEMA.webhook_endpoints (id, url, secret, types, created_at, disabled, old_secret, old_secret_until, account_id) FROM stdin;
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
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);


--
-- Name: batches batches_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.batches
    ADD CONSTRAINT batches_pkey PRIMARY KEY (id);


--
-- Name: cameo_approvals cameo_approvals_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.cameo_approvals
    ADD CONSTRAINT cameo_approvals_pkey PRIMARY KEY (cameo_id, account_id);


--
-- Name: cameo_uses cameo_uses_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.cameo_uses
    ADD CONSTRAINT cameo_uses_pkey PRIMARY KEY (cameo_id, day);


--
-- Name: characters characters_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.characters
    ADD CONSTRAINT characters_pkey PRIMARY KEY (id);


--
-- Name: counters_daily counters_daily_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.counters_daily
    ADD CONSTRAINT counters_daily_pkey PRIMARY KEY (board, subject, bucket);


--
-- Name: counters counters_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.counters
    ADD CONSTRAINT counters_pkey PRIMARY KEY (board, subject, bucket);


--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (event_id, endpoint_id);


--
-- Name: earnings earnings_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.earnings
    ADD CONSTRAINT earnings_pkey PRIMARY KEY (id);


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
-- Name: leaderboard_optins leaderboard_optins_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.leaderboard_optins
    ADD CONSTRAINT leaderboard_optins_pkey PRIMARY KEY (account_id);


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
-- Name: payment_events payment_events_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.payment_events
    ADD CONSTRAINT payment_events_pkey PRIMARY KEY (id);


--
-- Name: payment_events payment_events_provider_event_id_key; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.payment_events
    ADD CONSTRAINT payment_events_provider_event_id_key UNIQUE (provider, event_id);


--
-- Name: payout_destinations payout_destinations_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.payout_destinations
    ADD CONSTRAINT payout_destinations_pkey PRIMARY KEY (account_id);


--
-- Name: payout_rates payout_rates_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.payout_rates
    ADD CONSTRAINT payout_rates_pkey PRIMARY KEY (currency, version);


--
-- Name: payouts payouts_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.payouts
    ADD CONSTRAINT payouts_pkey PRIMARY KEY (id);


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
-- Name: published_videos published_videos_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.published_videos
    ADD CONSTRAINT published_videos_pkey PRIMARY KEY (video_id);


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
-- Name: videos videos_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.videos
    ADD CONSTRAINT videos_pkey PRIMARY KEY (id);


--
-- Name: webhook_endpoints webhook_endpoints_pkey; Type: CONSTRAINT; Schema: UPGRADE_SCHEMA; Owner: -
--

ALTER TABLE ONLY UPGRADE_SCHEMA.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);


--
-- Name: api_keys_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX api_keys_account ON UPGRADE_SCHEMA.api_keys USING btree (account_id);


--
-- Name: audit_log_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX audit_log_account ON UPGRADE_SCHEMA.audit_log USING btree (account_id, id);


--
-- Name: characters_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX characters_account ON UPGRADE_SCHEMA.characters USING btree (account_id, id);


--
-- Name: characters_handle; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE UNIQUE INDEX characters_handle ON UPGRADE_SCHEMA.characters USING btree (handle);


--
-- Name: counters_board; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX counters_board ON UPGRADE_SCHEMA.counters USING btree (board, bucket);


--
-- Name: counters_daily_board; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX counters_daily_board ON UPGRADE_SCHEMA.counters_daily USING btree (board, bucket);


--
-- Name: counters_owner; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX counters_owner ON UPGRADE_SCHEMA.counters USING btree (owner_id, bucket);


--
-- Name: deliveries_due; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX deliveries_due ON UPGRADE_SCHEMA.deliveries USING btree (next_at) WHERE (status = 'pending'::text);


--
-- Name: earnings_owner; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX earnings_owner ON UPGRADE_SCHEMA.earnings USING btree (owner_id, created_at);


--
-- Name: entries_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX entries_account ON UPGRADE_SCHEMA.entries USING btree (account_id, id);


--
-- Name: events_account_type; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX events_account_type ON UPGRADE_SCHEMA.events USING btree (account_id, type, created_at);


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
-- Name: orders_payment_ref; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE UNIQUE INDEX orders_payment_ref ON UPGRADE_SCHEMA.orders USING btree (provider, payment_ref) WHERE (payment_ref <> ''::text);


--
-- Name: orders_provider_ref; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE UNIQUE INDEX orders_provider_ref ON UPGRADE_SCHEMA.orders USING btree (provider, provider_ref) WHERE (provider_ref <> ''::text);


--
-- Name: payment_events_unmatched; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX payment_events_unmatched ON UPGRADE_SCHEMA.payment_events USING btree (id) WHERE (NOT matched);


--
-- Name: payouts_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX payouts_account ON UPGRADE_SCHEMA.payouts USING btree (account_id, id);


--
-- Name: published_videos_at; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX published_videos_at ON UPGRADE_SCHEMA.published_videos USING btree (published_at, video_id);


--
-- Name: videos_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX videos_account ON UPGRADE_SCHEMA.videos USING btree (account_id, id);


--
-- Name: videos_due; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX videos_due ON UPGRADE_SCHEMA.videos USING btree (next_at) WHERE (next_at IS NOT NULL);


--
-- Name: videos_ended; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX videos_ended ON UPGRADE_SCHEMA.videos USING btree (ended_at, id) WHERE (ended_at IS NOT NULL);


--
-- Name: webhook_endpoints_account; Type: INDEX; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE INDEX webhook_endpoints_account ON UPGRADE_SCHEMA.webhook_endpoints USING btree (account_id);


--
-- Name: audit_log audit_log_append_only; Type: TRIGGER; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON UPGRADE_SCHEMA.audit_log FOR EACH ROW EXECUTE FUNCTION UPGRADE_SCHEMA.audit_log_append_only();


--
-- Name: audit_log audit_log_no_truncate; Type: TRIGGER; Schema: UPGRADE_SCHEMA; Owner: -
--

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON UPGRADE_SCHEMA.audit_log FOR EACH STATEMENT EXECUTE FUNCTION UPGRADE_SCHEMA.audit_log_append_only();


--
-- PostgreSQL database dump complete
--

\unrestrict Ga5zG40v7FWnywYnGqjngCMdsbPixqmBO8bTTaFq1tHJplMP6IptDsogOPMnmrG

