"""gRPC adapter of CampaignsService: message in, use case, message out."""

from __future__ import annotations

import grpc

from meshkit.errors import Unavailable
from meshkit.identity import current_principal
from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from protos.crm.campaigns.v1 import campaigns_pb2_grpc
from services.campaigns import mapping
from services.campaigns.merges import ContactMerges
from services.campaigns.preview import Previews
from services.campaigns.privacy import ContactPrivacy
from services.campaigns.reach import Reaches, preview_page
from services.campaigns.service import CampaignsService
from services.campaigns.transactional import TransactionalMails

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CampaignsService"].full_name


class CampaignsServicer(campaigns_pb2_grpc.CampaignsServiceServicer):
    def __init__(
        self,
        service: CampaignsService,
        merges: ContactMerges | None = None,
        transactional: TransactionalMails | None = None,
        privacy: ContactPrivacy | None = None,
        previews: Previews | None = None,
        reaches: Reaches | None = None,
    ):
        self._service = service
        self._merges = merges
        self._transactional = transactional
        self._privacy = privacy
        self._previews = previews
        self._reaches = reaches

    def CreateCampaign(
        self, request: pb.CreateCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        view = self._service.create(current_principal(), mapping.draft_from(request))
        return mapping.campaign_to_proto(view)

    def GetCampaign(
        self, request: pb.GetCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        view = self._service.get(current_principal(), request.id)
        return mapping.campaign_to_proto(view, summary=request.summary)

    def ListCampaigns(
        self, request: pb.ListCampaignsRequest, context: grpc.ServicerContext
    ) -> pb.ListCampaignsResponse:
        page = self._service.list_campaigns(
            current_principal(), request.page_size, request.page_token
        )
        return pb.ListCampaignsResponse(
            campaigns=[mapping.campaign_to_proto(v) for v in page.campaigns],
            next_page_token=page.next_page_token,
        )

    def ScheduleCampaign(
        self, request: pb.ScheduleCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        view = self._service.schedule(
            current_principal(), request.id, mapping.send_at_from(request)
        )
        return mapping.campaign_to_proto(view)

    def SendNow(self, request: pb.SendNowRequest, context: grpc.ServicerContext) -> pb.Campaign:
        return mapping.campaign_to_proto(self._service.send_now(current_principal(), request.id))

    def UpdateCampaign(
        self, request: pb.UpdateCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        view = self._service.update(current_principal(), request.id, mapping.edit_from(request))
        return mapping.campaign_to_proto(view)

    def UnscheduleCampaign(
        self, request: pb.UnscheduleCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        return mapping.campaign_to_proto(self._service.unschedule(current_principal(), request.id))

    def PauseCampaign(
        self, request: pb.PauseCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        return mapping.campaign_to_proto(self._service.pause(current_principal(), request.id))

    def ResumeCampaign(
        self, request: pb.ResumeCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        return mapping.campaign_to_proto(self._service.resume(current_principal(), request.id))

    def CancelCampaign(
        self, request: pb.CancelCampaignRequest, context: grpc.ServicerContext
    ) -> pb.Campaign:
        return mapping.campaign_to_proto(self._service.cancel(current_principal(), request.id))

    def SendTestCampaign(
        self, request: pb.SendTestCampaignRequest, context: grpc.ServicerContext
    ) -> pb.SendTestCampaignResponse:
        if self._transactional is None:
            raise Unavailable("transactional mail is not wired in this process")
        principal = current_principal()
        mail = self._service.test_mail(principal, request.id, request.sample_contact_id)
        return mapping.test_send_to_proto(self._transactional.send_test(principal, mail))

    def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        page = self._service.list_deliveries(
            current_principal(), request.campaign_id, request.page_size, request.page_token
        )
        return mapping.deliveries_to_proto(page)

    def PreviewCampaign(
        self, request: pb.PreviewCampaignRequest, context: grpc.ServicerContext
    ) -> pb.PreviewCampaignResponse:
        if self._previews is None:
            raise Unavailable("previews are not wired in this process")
        page = preview_page(
            self._previews,
            self._reaches,
            current_principal(),
            request.id,
            request.page_size,
            request.page_token,
            skip_counts=request.skip_counts,
        )
        return mapping.preview_to_proto(page)

    def GetReach(self, request: pb.GetReachRequest, context: grpc.ServicerContext) -> pb.Reach:
        if self._reaches is None:
            raise Unavailable("reach counts are not wired in this process")
        view = self._reaches.get(current_principal(), request.id, request.refresh)
        return mapping.reach_to_proto(view)

    def MergeContacts(
        self, request: pb.MergeContactsRequest, context: grpc.ServicerContext
    ) -> pb.MergeContactsResponse:
        if self._merges is None:
            raise Unavailable("merges are not wired in this process")
        self._merges.merge(current_principal(), request.survivor_id, request.merged_id)
        return pb.MergeContactsResponse()

    def SendTransactional(
        self, request: pb.SendTransactionalRequest, context: grpc.ServicerContext
    ) -> pb.SendTransactionalResponse:
        if self._transactional is None:
            raise Unavailable("transactional mail is not wired in this process")
        result = self._transactional.send(current_principal(), mapping.transactional_from(request))
        return mapping.transactional_to_proto(result)

    def ExportContact(
        self, request: pb.ExportContactRequest, context: grpc.ServicerContext
    ) -> pb.ContactExport:
        if self._privacy is None:
            raise Unavailable("privacy requests are not wired in this process")
        return mapping.export_to_proto(
            self._privacy.export(current_principal(), request.contact_id)
        )

    def EraseContact(
        self, request: pb.EraseContactRequest, context: grpc.ServicerContext
    ) -> pb.EraseContactResponse:
        if self._privacy is None:
            raise Unavailable("privacy requests are not wired in this process")
        erasure = self._privacy.erase(current_principal(), request.contact_id)
        return mapping.erasure_to_proto(erasure)


def register(servicer: CampaignsServicer):  # type: ignore[no-untyped-def]
    """The register function build_server expects for this servicer."""

    def add(server: grpc.Server) -> None:
        campaigns_pb2_grpc.add_CampaignsServiceServicer_to_server(servicer, server)

    return add
