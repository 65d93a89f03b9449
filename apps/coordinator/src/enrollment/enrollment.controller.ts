import { Controller, Post } from '@nestjs/common';
import { type AcceptedRequest, type EnrollSiteResponse, HTTP_MESSAGES as M } from '@casam/protocol';
import { Public } from '../auth/auth.decorators';
import { RateLimit } from '../auth/rate-limit/rate-limit.guard';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { WireBody } from '../common/wire-request';
import { EnrollmentService } from './enrollment.service';

/** Site enrollment: public, the enrollment token in the body is the credential. */
@Controller('api/v1/sites')
export class EnrollmentController {
  constructor(private readonly enrollment: EnrollmentService) {}

  @Public()
  @RateLimit('enroll')
  @Post('enroll')
  enroll(
    @WireBody(M.enroll) body: AcceptedRequest<typeof M.enroll>,
    @ReqMeta() meta: RequestMeta,
  ): Promise<EnrollSiteResponse> {
    return this.enrollment.enroll(body, meta);
  }
}
