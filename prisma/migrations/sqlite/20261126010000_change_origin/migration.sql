-- AlterTable
ALTER TABLE "changes" ADD COLUMN "origin" TEXT;
