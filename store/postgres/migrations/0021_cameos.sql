-- compat: expand
-- Cameos: every character is a cameo (a likeness or a character, with an
-- owner, a consent policy and a fee per use, in the document). handle is
-- the unique @handle, NULL once deleted; characters made before cameos
-- take their id as handle.
ALTER TABLE characters ADD COLUMN handle text COLLATE "C";
UPDATE characters SET handle = id;
CREATE UNIQUE INDEX characters_handle ON characters (handle);

-- The accounts a cameo's owner approved (policy approved).
CREATE TABLE cameo_approvals (
    cameo_id   text COLLATE "C" NOT NULL,
    account_id text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (cameo_id, account_id)
);

-- Uses of a cameo per day of its owner's time zone (YYYY-MM-DD), counted
-- when a video is held and given back when it fails: the daily limit.
CREATE TABLE cameo_uses (
    cameo_id text COLLATE "C" NOT NULL,
    day      text COLLATE "C" NOT NULL,
    uses     bigint NOT NULL,
    PRIMARY KEY (cameo_id, day)
);

-- Every fee paid at a capture: gross, the platform's take, and the net
-- the owner's royalty grant received (gross = take + net), for statements.
CREATE TABLE earnings (
    id         text COLLATE "C" PRIMARY KEY,
    owner_id   text COLLATE "C" NOT NULL,
    payer_id   text COLLATE "C" NOT NULL,
    kind       text NOT NULL,
    subject    text COLLATE "C" NOT NULL,
    video_id   text COLLATE "C" NOT NULL,
    gross      bigint NOT NULL,
    take       bigint NOT NULL,
    net        bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX earnings_owner ON earnings (owner_id, created_at);

-- Completed videos their creators published: visible to every account,
-- remixed, edited or extended by others for remix_fee while remixable.
CREATE TABLE published_videos (
    video_id     text COLLATE "C" PRIMARY KEY,
    account_id   text COLLATE "C" NOT NULL,
    remix_fee    bigint NOT NULL,
    remixable    boolean NOT NULL,
    published_at timestamptz NOT NULL
);
CREATE INDEX published_videos_at ON published_videos (published_at, video_id);

-- Counters for statements and leaderboards, per 15 minutes of UTC (bucket:
-- its start in Unix seconds), so any time zone's days and weeks are sums
-- of whole buckets. board: cameo (a cameo's paid uses), video (a published
-- video's paid remixes, edits and extensions), creator (an account's
-- generations, and what it earned). owner_id: whose subject it is.
-- Updated in the capture's transaction; read by summing.
CREATE TABLE counters (
    board    text COLLATE "C" NOT NULL,
    subject  text COLLATE "C" NOT NULL,
    bucket   bigint NOT NULL,
    owner_id text COLLATE "C" NOT NULL,
    uses     bigint NOT NULL,
    gross    bigint NOT NULL,
    take     bigint NOT NULL,
    net      bigint NOT NULL,
    PRIMARY KEY (board, subject, bucket)
);
CREATE INDEX counters_board ON counters (board, bucket);
CREATE INDEX counters_owner ON counters (owner_id, bucket);

-- The same counters per UTC day (bucket: its midnight): a period's whole
-- UTC days are summed from these, its edges from counters.
CREATE TABLE counters_daily (
    board    text COLLATE "C" NOT NULL,
    subject  text COLLATE "C" NOT NULL,
    bucket   bigint NOT NULL,
    owner_id text COLLATE "C" NOT NULL,
    uses     bigint NOT NULL,
    gross    bigint NOT NULL,
    take     bigint NOT NULL,
    net      bigint NOT NULL,
    PRIMARY KEY (board, subject, bucket)
);
CREATE INDEX counters_daily_board ON counters_daily (board, bucket);

-- Accounts that chose to appear on the creators' leaderboard.
CREATE TABLE leaderboard_optins (
    account_id text COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL
);

-- Payouts of earnings: the columns looked up, and the document.
CREATE TABLE payouts (
    id         text COLLATE "C" PRIMARY KEY,
    account_id text COLLATE "C" NOT NULL,
    status     text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    doc        text NOT NULL
);
CREATE INDEX payouts_account ON payouts (account_id, id);

-- The operator's rates of payout per currency, versioned: minor units of
-- money per credit, and the least a payout may be (micro-credits).
CREATE TABLE payout_rates (
    currency         text COLLATE "C" NOT NULL,
    version          bigint NOT NULL,
    minor_per_credit bigint NOT NULL,
    minimum          bigint NOT NULL,
    effective_at     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (currency, version)
);

-- Where an account's payouts go: a Stripe connected account.
CREATE TABLE payout_destinations (
    account_id     text COLLATE "C" PRIMARY KEY,
    stripe_account text COLLATE "C" NOT NULL,
    created_at     timestamptz NOT NULL
);
