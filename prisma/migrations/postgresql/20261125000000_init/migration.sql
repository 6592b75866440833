-- CreateTable
CREATE TABLE "purposes" (
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "category" TEXT NOT NULL,
    "parent" TEXT,
    "defaultDecision" TEXT,
    "requiresPermissionToView" BOOLEAN NOT NULL DEFAULT false,
    "emergencyAccess" TEXT NOT NULL DEFAULT 'never',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "purposes_pkey" PRIMARY KEY ("code")
);

-- CreateTable
CREATE TABLE "clients" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "odsCode" TEXT,
    "scopes" TEXT NOT NULL,
    "purposes" TEXT NOT NULL,
    "exemptions" TEXT NOT NULL,
    "jwks" TEXT,
    "jwksUrl" TEXT,
    "status" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "clients_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "preferences" (
    "id" TEXT NOT NULL,
    "nhsNumber" TEXT NOT NULL,
    "purpose" TEXT NOT NULL,
    "decision" TEXT NOT NULL,
    "effectiveFrom" TIMESTAMP(3) NOT NULL,
    "recordedAt" TIMESTAMP(3) NOT NULL,
    "source" TEXT NOT NULL,
    "recordedBy" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "note" TEXT,
    "status" TEXT NOT NULL,
    "externalId" TEXT,
    "enteredInErrorReason" TEXT,
    "enteredInErrorAt" TIMESTAMP(3),
    "enteredInErrorBy" TEXT,

    CONSTRAINT "preferences_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "changes" (
    "seq" BIGSERIAL NOT NULL,
    "kind" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "changes_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "seq" BIGSERIAL NOT NULL,
    "id" TEXT NOT NULL,
    "chain" TEXT NOT NULL,
    "chainSeq" INTEGER NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "type" TEXT NOT NULL,
    "clientId" TEXT,
    "requestId" TEXT,
    "nhsNumber" TEXT,
    "purpose" TEXT,
    "outcome" TEXT,
    "details" TEXT NOT NULL,
    "prevHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "alerts" (
    "id" TEXT NOT NULL,
    "auditId" TEXT NOT NULL,
    "nhsNumber" TEXT NOT NULL,
    "purpose" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "raisedAt" TIMESTAMP(3) NOT NULL,
    "status" TEXT NOT NULL,
    "reviewedBy" TEXT,
    "reviewNote" TEXT,
    "reviewedAt" TIMESTAMP(3),

    CONSTRAINT "alerts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "used_assertions" (
    "clientId" TEXT NOT NULL,
    "jti" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "used_assertions_pkey" PRIMARY KEY ("clientId", "jti")
);

-- CreateIndex
CREATE UNIQUE INDEX "preferences_externalId_key" ON "preferences"("externalId");

-- CreateIndex
CREATE INDEX "preferences_nhsNumber_idx" ON "preferences"("nhsNumber");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_id_key" ON "audit_events"("id");

-- CreateIndex
CREATE INDEX "audit_events_nhsNumber_seq_idx" ON "audit_events"("nhsNumber", "seq");

-- CreateIndex
CREATE INDEX "audit_events_clientId_seq_idx" ON "audit_events"("clientId", "seq");

-- CreateIndex
CREATE INDEX "audit_events_type_seq_idx" ON "audit_events"("type", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_chain_chainSeq_key" ON "audit_events"("chain", "chainSeq");

-- CreateIndex
CREATE INDEX "alerts_status_raisedAt_idx" ON "alerts"("status", "raisedAt");

-- CreateIndex
CREATE INDEX "used_assertions_expiresAt_idx" ON "used_assertions"("expiresAt");
