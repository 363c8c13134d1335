import { Controller, Get, HttpStatus } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from '../../tenancy/access/access.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';

class HealthDto {
  @ApiProperty({ enum: ['ok'], example: 'ok' })
  status: 'ok';
}

class ReadinessDto extends HealthDto {
  @ApiProperty({ example: { database: { status: 'up' } } })
  info: Record<string, unknown>;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
  ) {}

  @Get()
  @Public()
  @ApiOperation({
    summary: 'Liveness: 200 while the process runs',
    description:
      'Public, no dependency checked: a liveness probe restarts the process only when it no longer ' +
      'answers at all.',
  })
  @ApiOkResponse({ type: HealthDto, description: 'The process is running' })
  live(): HealthDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({
    summary: 'Readiness: 200 when the database answers, 503 otherwise',
    description:
      'Public. The database is pinged (2 s timeout) on every call; a load balancer should send ' +
      'traffic only while this answers 200. It turns 200 again by itself when the database returns.',
  })
  @ApiOkResponse({ type: ReadinessDto, description: 'The database answers' })
  @ApiError(503, [ErrorCode.NOT_READY])
  async ready(): Promise<ReadinessDto> {
    try {
      const result = await this.health.check([
        () => this.db.pingCheck('database', { timeout: 2000 }),
      ]);
      return { status: 'ok', info: result.info ?? {} };
    } catch {
      throw new AppException(
        HttpStatus.SERVICE_UNAVAILABLE,
        ErrorCode.NOT_READY,
        'Database is not reachable',
      );
    }
  }
}
