import { Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { isUniqueViolation } from '../../database/pg-errors';
import { type SystemTx, UnitOfWork } from '../../tenancy/unit-of-work';
import type { UpdateMeDto } from './dto/update-me.dto';
import { User } from './user.entity';

export const emailTaken = (): AppException =>
  AppException.conflict(ErrorCode.EMAIL_TAKEN, 'An account with this email already exists');

/** Users (accounts): the only writer of the users table. */
@Injectable()
export class UsersService {
  constructor(private readonly uow: UnitOfWork) {}

  async get(id: string): Promise<User> {
    const user = await this.uow.systemRead().repo(User).findOneBy({ id });
    if (!user) throw AppException.notFound('User');
    return user;
  }

  /**
   * PATCH /users/me: the given fields of the caller's account (name, phone; null removes the
   * phone). The row is locked, so concurrent changes apply one after the other.
   */
  update(id: string, input: UpdateMeDto): Promise<User> {
    return this.uow.system(async (tx) => {
      const users = tx.repo(User);
      const user = await users.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!user) throw AppException.notFound('User');
      if (input.name !== undefined) user.name = input.name;
      if (input.phone !== undefined) user.phone = input.phone;
      return users.save(user);
    });
  }

  findByEmail(email: string): Promise<User | null> {
    return this.uow.systemRead().repo(User).findOneBy({ email });
  }

  /** The user with its password hash (excluded from every other read). */
  findCredentials(email: string): Promise<User | null> {
    return this.uow
      .systemRead()
      .repo(User)
      .createQueryBuilder('u')
      .addSelect('u.passwordHash')
      .where('u.email = :email', { email })
      .getOne();
  }

  /**
   * Creates a user in `tx` (registration); 409 EMAIL_TAKEN when the email is taken, also by a
   * concurrent registration that committed first.
   */
  async create(tx: SystemTx, input: Pick<User, 'email' | 'name' | 'passwordHash'>): Promise<User> {
    const users = tx.repo(User);
    try {
      return await users.save(users.create(input));
    } catch (e) {
      if (isUniqueViolation(e)) throw emailTaken();
      throw e;
    }
  }
}
