-- SPEC revision 2 (§2 "Who asked", §2 Read codes, §3 "Audit")
-- AlterTable
ALTER TABLE "clients" ADD COLUMN "requireEndUser" BOOLEAN NOT NULL DEFAULT false;
-- AlterTable
ALTER TABLE "preferences" ADD COLUMN "sourceCode" TEXT;
ALTER TABLE "preferences" ADD COLUMN "auditId" TEXT;
-- AlterTable
ALTER TABLE "audit_events" ADD COLUMN "clientName" TEXT;
ALTER TABLE "audit_events" ADD COLUMN "clientOdsCode" TEXT;
ALTER TABLE "audit_events" ADD COLUMN "endUser" TEXT;
ALTER TABLE "audit_events" ADD COLUMN "correlationId" TEXT;
-- AlterTable
ALTER TABLE "alerts" ADD COLUMN "endUser" TEXT;
ALTER TABLE "alerts" ADD COLUMN "reviewedByUser" TEXT;
