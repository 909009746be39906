"""The lifecycle as a versioned worker runs it (Worker Deployment Versioning, settings
`deployment_name`/`build_id`). A versioned worker pins every workflow to the build that started
it (worker.deployment_config), except the months-long lifecycle, which moves to the current
build and keeps old runs replaying with workflow.patched (docs/architecture.md, "Upgrades").

Temporal refuses a versioning behaviour on an unversioned worker, so it is declared here, on a
subclass registered under the same workflow type name only by versioned workers. The SDK wants
the run method on the class it registers: it only hands over to the lifecycle's own."""

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from canonical.invoice import Invoice
    from canonical.lifecycle_snapshot import LifecycleSnapshot
    from canonical.status import InvoiceLifecycleStatus

from workflows.invoice_lifecycle import InvoiceToPayment


@workflow.defn(name="InvoiceToPayment", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class VersionedInvoiceToPayment(InvoiceToPayment):
    @workflow.run
    async def run(self, invoice: Invoice, resume: LifecycleSnapshot | None = None) -> InvoiceLifecycleStatus:
        return await super().run(invoice, resume)
